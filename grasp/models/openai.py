"""A client for any OpenAI-compatible chat server (vLLM, Ollama, llama.cpp's server, OpenAI).

Retries timeouts, 429 and 5xx with tenacity, honouring Retry-After, then
raises :class:`ModelUnavailable` (the improvement loop pauses in a resumable
state on it). The API key is read from an environment variable at call time
and never stored, logged or put in an error message.

Servers differ in what they take beyond the chat itself, and a user runs all of them. Structured output
comes in three forms (``json_schema``: OpenAI, vLLM, SGLang; ``json_object`` with the schema inside it:
llama.cpp's servers; plain ``text`` with the schema in the prompt: any server), and a GBNF grammar in a
field of its own (``grammar``: llama.cpp's servers; ``guided_grammar``: vLLM). The first time a server
refuses a form or the grammar field, in words that name it, the next form is tried (or the grammar
dropped) and remembered for the rest of the run, and the model says so once (``Model.on_note``); only
when no form works does the run pause, naming the key to set. A form or field the config pins is never
changed.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from ..errors import ModelError, ModelUnavailable
from .base import ChatResult, Model, with_schema_in_prompt

STRUCTURED_FORMS = ("json_schema", "json_object", "text")  # most constrained first: the order a refusal walks
FORM_WORDS = ("response_format", "json_schema", "json_object")  # a refusal of a structured-output form names one


class _Retryable(Exception):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Refused(Exception):
    """The server answered that it does not take something in the request (HTTP 4xx/5xx), in these words."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"HTTP {status}: {' '.join(text.split())[:200]}")  # one line, however the server wraps it
        self.status, self.text = status, text


class OpenAICompatibleModel(Model):
    supports_schema = True  # a schema is always welcome: it is sent in the form this server takes

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
        structured_output: str = "auto",
        grammar_field: str | None = "grammar",
        pin_grammar_field: bool = False,
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
        if structured_output not in ("auto", *STRUCTURED_FORMS):
            raise ModelError(f"structured_output {structured_output!r}: use auto or one of {', '.join(STRUCTURED_FORMS)}")
        self.pinned_form = structured_output != "auto"
        self.structured_form = STRUCTURED_FORMS[0] if structured_output == "auto" else structured_output
        self._form_settled = False
        self.grammar_field, self.pinned_grammar_field = grammar_field, pin_grammar_field
        self.supports_grammar = grammar_field is not None
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
        headers = self._headers()
        while True:
            request = dict(payload)
            if grammar is not None and self.grammar_field:
                request[self.grammar_field] = grammar
            if schema is not None:
                request.update(self._structured(messages, schema))
            asked = [*(FORM_WORDS if schema is not None else ()), *([self.grammar_field] if self.grammar_field in request else [])]
            try:
                result = await self._send(request, headers, asked)
            except _Refused as refusal:
                if not self._adapt(refusal, schema_sent=schema is not None, grammar_sent=self.grammar_field in request):
                    raise self._refused_error(refusal, schema_sent=schema is not None) from None
                continue
            if schema is not None and not self._form_settled:
                self._form_settled = True
                self._note(f"structured output from {self.base_url}: {self.structured_form}")
            return result

    def _structured(self, messages: list[dict[str, str]], schema: dict[str, Any]) -> dict[str, Any]:
        """The request's fields that ask for ``schema`` in the form this server takes."""
        if self.structured_form == "json_schema":
            return {"response_format": {"type": "json_schema",
                                        "json_schema": {"name": "reply", "schema": schema, "strict": False}}}
        prompt = {"messages": with_schema_in_prompt(messages, schema)}
        if self.structured_form == "json_object":
            return {**prompt, "response_format": {"type": "json_object", "schema": schema}}
        return prompt

    def _adapt(self, refusal: _Refused, *, schema_sent: bool, grammar_sent: bool) -> bool:
        """Step past what the server refused, in its own words; False when nothing is left to step to."""
        if grammar_sent and not self.pinned_grammar_field and _names_any(refusal.text, [self.grammar_field or ""]):
            self._note(f"{self.base_url} refused the grammar field {self.grammar_field!r} ({refusal}); replies are "
                       "no longer constrained by the environment's grammar")
            self.grammar_field, self.supports_grammar = None, False
            return True
        if schema_sent and not self.pinned_form and _names_any(refusal.text, FORM_WORDS):
            index = STRUCTURED_FORMS.index(self.structured_form)
            if index + 1 < len(STRUCTURED_FORMS):
                refused, self.structured_form = self.structured_form, STRUCTURED_FORMS[index + 1]
                self._note(f"{self.base_url} refused structured output as {refused} ({refusal}); trying "
                           f"{self.structured_form}")
                return True
        return False

    def _refused_error(self, refusal: _Refused, *, schema_sent: bool) -> ModelError:
        if schema_sent and _names_any(refusal.text, FORM_WORDS):
            what = (f"the pinned structured_output: {self.structured_form}" if self.pinned_form
                    else "every structured-output form (json_schema, json_object, text)")
            return ModelUnavailable(f"{self.base_url} refused {what}: {refusal}. Set structured_output (json_schema, "
                                    "json_object or text) in this model's config to the form the server takes")
        if self.grammar_field and _names_any(refusal.text, [self.grammar_field]):
            return ModelUnavailable(f"{self.base_url} refused the pinned grammar field {self.grammar_field!r}: {refusal}. "
                                    "Set grammar_field to the server's field, or null to send none")
        return (ModelUnavailable if refusal.status >= 500 else ModelError)(f"{self.base_url}: {refusal}")

    def _note(self, line: str) -> None:
        if self.on_note is not None:
            self.on_note(line)

    async def _send(self, payload: dict[str, Any], headers: dict[str, str], asked: list[str]) -> ChatResult:
        """One request, retried on timeouts, 429 and 5xx; a refusal that names what was ``asked`` for (a
        structured-output form, the grammar field) is not retried: it is the server's answer, not an outage."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=_wait,
            retry=retry_if_exception(lambda error: isinstance(error, _Retryable)),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._once(payload, headers, asked)
        except _Retryable as error:
            raise ModelUnavailable(f"{self.base_url}: {error} (gave up after {self.retries + 1} attempts)") from None
        raise AssertionError("unreachable")

    async def _once(self, payload: dict[str, Any], headers: dict[str, str], asked: list[str]) -> ChatResult:
        started = time.perf_counter()
        try:
            response = await self._client.post("chat/completions", json=payload, headers=headers)
        except httpx.TimeoutException:
            raise _Retryable(f"timed out after {self.timeout_s:g} s") from None
        except httpx.TransportError as error:
            raise _Retryable(f"cannot connect ({type(error).__name__})") from None
        if response.status_code >= 400 and response.status_code != 429 and _names_any(response.text, asked):
            raise _Refused(response.status_code, response.text)  # llama_cpp.server answers a refused form with a 500
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


def _names_any(text: str, words: Sequence[str]) -> bool:
    lowered = text.lower()
    return any(word and word.lower() in lowered for word in words)


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
