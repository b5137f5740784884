"""Scripted models for tests and benchmarks: replies computed by a function or replayed from a list.

Deterministic, no network. Their ids start with ``scripted:`` so that a
scripted result can never be mistaken for a model's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .base import ChatResult, Model

Reply = Callable[[list[dict[str, str]]], str | Awaitable[str]]


class ScriptedModel(Model):
    """Replies from ``reply(messages)``, or from ``script`` in order."""

    supports_schema = True
    supports_grammar = True

    def __init__(self, reply: Reply | Sequence[str], *, name: str = "model", latency_s: float = 0.0) -> None:
        self.id = f"scripted:{name}"
        self._latency_s = latency_s
        if callable(reply):
            self._reply: Reply = reply
        else:
            script = list(reply)
            self._reply = lambda messages: script.pop(0) if script else "FINISH([])"
        self.calls: list[list[dict[str, str]]] = []
        self.options: list[dict[str, Any]] = []  # the options of each call (max_tokens, temperature, ...)

    async def chat(self, messages: list[dict[str, str]], **options: Any) -> ChatResult:
        self.calls.append(messages)
        self.options.append(options)
        if self._latency_s:
            await asyncio.sleep(self._latency_s)
        text = self._reply(messages)
        if asyncio.iscoroutine(text) or isinstance(text, Awaitable):
            text = await text  # type: ignore[misc]
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4
        return ChatResult(text=str(text), model=self.id, prompt_tokens=prompt_tokens,
                          completion_tokens=len(str(text)) // 4, latency_s=self._latency_s)
