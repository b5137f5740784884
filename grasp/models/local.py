"""The embedded local model: llama.cpp in process, no network, no key.

One inference at a time (a lock): llama.cpp on two cores gains nothing from
parallel requests, and serial calls keep the KV cache's prefix reuse intact —
the stable head of every prompt (instructions, skills) is processed once.
Each role gets a context of its own (`with_own_context`) over the same weights
and the same lock, so the proposer's brief does not evict the executor's head.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from ..errors import ModelError
from .base import ChatResult, Model


class LocalModel(Model):
    supports_schema = True
    supports_grammar = True

    def __init__(
        self,
        gguf: Path,
        *,
        name: str | None = None,
        identity: str | None = None,
        n_ctx: int = 8192,
        n_threads: int | None = None,
        temperature: float = 0.0,
        seed: int = 0,
        max_tokens: int = 256,
    ) -> None:
        try:
            import llama_cpp
        except ImportError:
            raise ModelError('the embedded model needs llama-cpp-python: pip install -e ".[local]"') from None
        self._llama_cpp = llama_cpp
        self._gguf, self._n_threads = gguf, n_threads  # with the attributes below: what a sibling is built from
        self.id = name or f"local:{gguf.name}"
        self.identity = identity or f"{self.id}@{gguf.resolve()}"
        self.temperature = temperature
        self.seed = seed
        self.max_tokens = max_tokens
        self.n_ctx = n_ctx
        try:
            self._llm = llama_cpp.Llama(
                model_path=str(gguf), n_ctx=n_ctx, n_threads=n_threads or max(1, os.cpu_count() or 1),
                seed=seed, verbose=False,
            )
        except (ValueError, RuntimeError) as error:
            raise ModelError(f"{gguf}: llama.cpp could not load it ({error})") from None
        self._lock = asyncio.Lock()
        self._grammars: dict[str, Any] = {}

    def with_own_context(self) -> LocalModel:
        """A second llama.cpp context over the same weights (memory-mapped, so shared by the OS) and the
        same lock: each role's prompt head stays processed between its calls. Measured on the main job
        in benchmarks/role_contexts.py."""
        sibling = LocalModel(self._gguf, name=self.id, identity=self.identity, n_ctx=self.n_ctx,
                             n_threads=self._n_threads, temperature=self.temperature, seed=self.seed,
                             max_tokens=self.max_tokens)
        sibling._lock = self._lock  # still one inference at a time on the machine's cores
        return sibling

    def _grammar(self, grammar: str | None, schema: dict[str, Any] | None) -> Any:
        key = grammar or (json.dumps(schema, sort_keys=True) if schema else None)
        if key is None:
            return None
        if key not in self._grammars:
            if grammar:
                self._grammars[key] = self._llama_cpp.LlamaGrammar.from_string(grammar, verbose=False)
            else:
                self._grammars[key] = self._llama_cpp.LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
        schema: dict[str, Any] | None = None,
        seed: int | None = None,
    ) -> ChatResult:
        options = {
            "messages": messages,
            "max_tokens": max_tokens or self.max_tokens,
            "temperature": self.temperature if temperature is None else temperature,
            "stop": stop or [],
            "seed": self.seed if seed is None else seed,
            "grammar": self._grammar(grammar, schema),
        }
        async with self._lock:
            started = time.perf_counter()
            try:
                reply = await asyncio.to_thread(self._llm.create_chat_completion, **options)
            except ValueError as error:  # e.g. the prompt does not fit the context window
                raise ModelError(f"{self.id}: {error}") from None
            latency = time.perf_counter() - started
        choice = reply["choices"][0]
        usage = reply.get("usage") or {}
        return ChatResult(
            text=choice["message"]["content"] or "",
            model=self.id,
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            latency_s=latency,
            finish_reason=choice.get("finish_reason") or "stop",
        )

    async def aclose(self) -> None:
        self._llm.close()
