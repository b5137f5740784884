"""A client for any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp's server, OpenAI).

Retries timeouts, 429 and 5xx with tenacity, honouring Retry-After, then
raises :class:`ModelUnavailable` (the improvement loop pauses in a resumable
state on it). The API key is read from an environment variable at call time
and never stored, logged or put in an error message.
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from ..errors import ModelError, ModelUnavailable
from .base import ChatResult, Model


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OpenAICompatibleModel(Model):
    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str | None = None,
        temperature: float = 0.0,
        seed: int | None = None,
        max_tokens: int = 512,
        timeout_s: float = 120.0,
        retries: int = 4,
        supports_schema: bool = True,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.id = model
        self.base_url = base_url.rstrip("/") + "/"
        self.identity = f"{model}@{self.base_url}"
        self.api_key_env = api_key_env
        self._warned_plain_http = False
        self.temperature = temperature
        self.seed = seed
        self.max_tokens = max_tokens
        self.timeout_s = timeout_s
        self.retries = retries
        self.supports_schema = supports_schema
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout_s, transport=transport)

    def _headers(self) -> dict[str, str]:
        if not self.api_key_env:
            return {}
        key = os.environ.get(self.api_key_env)
        if not key:
            raise ModelError(f"the API key variable {self.api_key_env} is not set")
        if not self._warned_plain_http and exposes_key(self.base_url):
            self._warned_plain_http = True
            warnings.warn(f"the key from ${self.api_key_env} is sent over plain http to {httpx.URL(self.base_url).host}; "
                          "use https for a remote endpoint", UserWarning, stacklevel=2)
        return {"Authorization": f"Bearer {key}"}

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
        payload: dict[str, Any] = {
            "model": self.id,
            "messages": messages,
            "temperature": self.temperature if temperature is None else temperature,
            "max_tokens": max_tokens or self.max_tokens,
        }
        if stop:
            payload["stop"] = stop
        if seed is not None or self.seed is not None:
            payload["seed"] = seed if seed is not None else self.seed
        if schema is not None and self.supports_schema:
            payload["response_format"] = {"type": "json_schema",
                                          "json_schema": {"name": "reply", "schema": schema, "strict": False}}
        if grammar is not None and self.supports_grammar:
            payload["grammar"] = grammar
        headers = self._headers()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=_wait,
            retry=retry_if_exception(lambda error: isinstance(error, _Retryable)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(payload, headers)
        except _Retryable as error:
            raise ModelUnavailable(f"{self.base_url}: {error} (gave up after {self.retries + 1} attempts)") from None
        raise AssertionError("unreachable")

    async def _once(self, payload: dict[str, Any], headers: dict[str, str]) -> ChatResult:
        started = time.perf_counter()
        try:
            response = await self._client.post("chat/completions", json=payload, headers=headers)
        except httpx.TimeoutException:
            raise _Retryable(f"timed out after {self.timeout_s:g} s") from None
        except httpx.TransportError as error:
            raise _Retryable(f"cannot connect ({type(error).__name__})") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise _Retryable(f"HTTP {response.status_code}", _retry_after(response))
        if response.status_code >= 400:
            raise ModelError(f"{self.base_url}: HTTP {response.status_code}: {response.text[:300]}")
        try:
            body = response.json()
            choice = body["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError):
            raise ModelError(f"{self.base_url}: malformed reply (not an OpenAI chat completion): "
                             f"{response.text[:200]!r}") from None
        usage = body.get("usage") or {}
        return ChatResult(
            text=text,
            model=self.id,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            latency_s=time.perf_counter() - started,
            finish_reason=choice.get("finish_reason") or "stop",
        )

    async def aclose(self) -> None:
        await self._client.aclose()


LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "0.0.0.0"}


def exposes_key(base_url: str) -> bool:
    """True when a key would travel unencrypted to another machine (plain http, non-loopback host)."""
    url = httpx.URL(base_url)
    return url.scheme == "http" and url.host not in LOCAL_HOSTS and not url.host.endswith(".localhost")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    try:
        return min(float(value), 60.0) if value is not None else None
    except ValueError:
        return None


def _wait(state: Any) -> float:
    error = state.outcome.exception() if state.outcome else None
    if isinstance(error, _Retryable) and error.retry_after is not None:
        return error.retry_after
    return wait_exponential(multiplier=0.5, max=20)(state)
