"""One async chat interface for every model grasp talks to.

Executor, classifier and proposer all go through :class:`Model.chat`; a
structured reply (a pydantic model) goes through :func:`structured`, which
uses the backend's JSON-schema support when it has one and otherwise asks,
validates and makes one repair attempt.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ..errors import ModelError

T = TypeVar("T", bound=BaseModel)


class ChatResult(BaseModel):
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    finish_reason: str = "stop"
    cached: bool = False


SCHEMA_INSTRUCTION = "\n\nReply with one JSON object that follows this JSON schema, and nothing else:\n"


def with_schema_in_prompt(messages: list[dict[str, str]], schema: dict[str, Any]) -> list[dict[str, str]]:
    """The messages with the schema stated after the last one: how a model that cannot be constrained to a
    schema (or an endpoint that refuses the constraint) is asked for one."""
    return [*messages[:-1], {**messages[-1], "content": messages[-1]["content"] + SCHEMA_INSTRUCTION + json.dumps(schema)}]


class Model(ABC):
    """A chat model. ``id`` names it in logs, caches and evidence."""

    id: str = "model"
    identity: str = ""  # what exactly answers: endpoint + model, or the weights' sha256; keys the reply cache
    supports_schema: bool = False  # can constrain a reply to a JSON schema
    supports_grammar: bool = False  # can constrain a reply to a GBNF grammar
    temperature: float = 0.0
    # Told once, in words, what the model adapted to (an endpoint's structured-output form, a grammar field it
    # refused); a run shows it in its live view and keeps it in its record.
    on_note: Callable[[str], None] | None = None

    @abstractmethod
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
        """One completion. ``grammar``/``schema`` are used when supported, ignored otherwise."""

    def with_own_context(self) -> Model:
        """The same model for another role, keeping that role's prompt state apart from this one's.

        An endpoint keeps no state between requests, so by default this is the model itself. An
        in-process runtime reuses the processed head of its previous prompt; when two roles with
        different prompts (the executor's instructions, the proposer's brief) share one context, each
        call of one throws away the other's head, which then has to be processed again."""
        return self

    async def aclose(self) -> None:
        """Release connections or weights."""


def extract_json(text: str) -> Any:
    """The first JSON object in ``text`` (tolerates code fences and chatter around it)."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.DOTALL)
    candidate = fenced.group(1) if fenced else text
    start = candidate.find("{")
    if start < 0:
        raise ValueError("no JSON object in the reply")
    decoded, _ = json.JSONDecoder().raw_decode(candidate[start:])
    return decoded


async def structured(
    model: Model,
    messages: list[dict[str, str]],
    output: type[T],
    *,
    max_tokens: int = 1024,
    temperature: float | None = None,
    seed: int | None = None,
) -> tuple[T, list[ChatResult]]:
    """Ask for a reply that validates as ``output``; one repair attempt, then ModelError.

    The error carries the reason, so callers record a refused candidate with
    it instead of silently dropping the reply.
    """
    schema = output.model_json_schema()
    prompt = list(messages) if model.supports_schema else with_schema_in_prompt(messages, schema)
    results: list[ChatResult] = []
    problem = ""
    for attempt in range(2):
        result = await model.chat(prompt, max_tokens=max_tokens, temperature=temperature, schema=schema, seed=seed)
        results.append(result)
        try:
            return output.model_validate(extract_json(result.text)), results
        except (ValueError, ValidationError) as error:
            problem = _short(error)
        if attempt == 0:
            prompt = prompt + [
                {"role": "assistant", "content": result.text},
                {"role": "user", "content": f"That reply was not valid: {problem}. Reply again with only the corrected "
                                            "JSON object."},
            ]
    raise ModelError(f"{model.id} gave no valid {output.__name__} after one repair attempt: {problem}")


def _short(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or 'reply'}: {first['msg']}"
    return str(error)[:200]
