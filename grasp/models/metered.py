"""A model wrapper that caches temperature-0 replies and books tokens per role.

The cache key is the model's identity (endpoint + model name, or the
weights' sha256 for a local model: two servers or two GGUFs that share a
name never share replies) plus the full request (messages, limits,
grammar or schema), so a hit returns exactly what the model said to exactly
that request in an earlier run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import BudgetReached
from ..store.runs import ReplyCache, RunStore
from .base import ChatResult, Model


class MeteredModel(Model):
    def __init__(self, inner: Model, *, role: str, runs: RunStore | None = None, run_id: str | None = None,
                 cache: ReplyCache | None = None, spent: Callable[[], str | None] | None = None) -> None:
        self.inner = inner
        self.id = inner.id
        self.identity = inner.identity or inner.id
        self.role = role
        self.supports_schema = inner.supports_schema
        self.supports_grammar = inner.supports_grammar
        self.temperature = inner.temperature
        self.runs, self.run_id, self.cache = runs, run_id, cache
        self.spent = spent  # why the run's budget is spent, or None: asked before every call that costs anything
        self.hits = 0
        self.misses = 0

    async def chat(self, messages: list[dict[str, str]], **options: Any) -> ChatResult:
        temperature = options.get("temperature")
        temperature = self.inner.temperature if temperature is None else temperature
        key = None
        if self.cache is not None and temperature == 0:
            key = ReplyCache.key(self.identity, {"messages": messages, **{k: v for k, v in options.items() if v is not None}})
            hit = self.cache.get(key)
            if hit is not None:
                self.hits += 1
                result = ChatResult.model_validate({**hit, "cached": True})
                self._book(result)
                return result
            self.misses += 1
        if self.spent is not None and (why := self.spent()):
            raise BudgetReached(why)
        result = await self.inner.chat(messages, **options)
        if key is not None and self.cache is not None:
            self.cache.put(key, self.id, result.model_dump(mode="json"))
        self._book(result)
        return result

    def _book(self, result: ChatResult) -> None:
        if self.runs is not None and self.run_id is not None:
            # A cache hit is booked as a call that processed no tokens and cost nothing.
            spent = 0 if result.cached else 1
            self.runs.add_usage(self.run_id, self.role, self.id, prompt_tokens=spent * result.prompt_tokens,
                                completion_tokens=spent * result.completion_tokens,
                                seconds=spent * result.latency_s, cached=result.cached)

    async def aclose(self) -> None:
        await self.inner.aclose()
