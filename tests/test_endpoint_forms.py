"""An endpoint that refuses a structured-output form or the grammar field: the next form, remembered, said once.

The fake server answers as the real ones do (llama_cpp.server: a 500 that quotes the refused
`response_format`; OpenAI: a 400 that names an unrecognized argument); tests/test_real_server.py checks
the same against llama.cpp's own server.
"""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from grasp.models import ModelUnavailable, OpenAICompatibleModel, structured

from .helpers import FakeOpenAI, serve

LLAMA_CPP_REFUSAL = ("1 validation error: {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
                     "'msg': \"Input should be 'text' or 'json_object'\"}")
MESSAGES = [{"role": "user", "content": "Label it."}]


class Verdict(BaseModel):
    label: str


def refuses_json_schema(body: dict) -> tuple[int, str] | None:
    form = (body.get("response_format") or {}).get("type")
    return (500, LLAMA_CPP_REFUSAL) if form == "json_schema" else None


def ask_twice(url: str, **options) -> tuple[list[Verdict], list[str]]:
    notes: list[str] = []
    model = OpenAICompatibleModel(base_url=f"{url}/v1", model="fake", retries=2, **options)
    model.on_note = notes.append

    async def run():
        try:
            return [(await structured(model, MESSAGES, Verdict))[0] for _ in range(2)]
        finally:
            await model.aclose()

    return asyncio.run(run()), notes


def test_a_refused_json_schema_falls_back_once_and_the_next_call_uses_the_remembered_form() -> None:
    fake = FakeOpenAI(text='{"label": "units"}', refuse=refuses_json_schema)
    with serve(fake.app()) as url:
        verdicts, notes = ask_twice(url)
    assert [verdict.label for verdict in verdicts] == ["units", "units"]
    forms = [(request.get("response_format") or {}).get("type") for request in fake.requests]
    assert forms == ["json_schema", "json_object", "json_object"]  # refused once, not retried, then remembered
    assert fake.requests[1]["response_format"]["schema"] == Verdict.model_json_schema()
    assert "JSON schema" in fake.requests[1]["messages"][-1]["content"]  # stated in the prompt as well
    assert len(notes) == 2 and "refused structured output as json_schema" in notes[0]
    assert notes[1].endswith("structured output from " + f"{url}/v1/: json_object")


def test_a_server_that_refuses_every_form_pauses_with_one_line_naming_the_key() -> None:
    fake = FakeOpenAI(refuse=lambda body: (400, "response_format is not supported by this deployment"))
    with serve(fake.app()) as url, pytest.raises(ModelUnavailable) as caught:
        ask_twice(url)
    assert "refused every structured-output form" in str(caught.value) and "Set structured_output" in str(caught.value)
    assert "\n" not in str(caught.value) and len(fake.requests) == 3  # json_schema, json_object, text: once each


def test_a_pinned_form_is_never_changed() -> None:
    fake = FakeOpenAI(text='{"label": "units"}', refuse=refuses_json_schema)
    with serve(fake.app()) as url, pytest.raises(ModelUnavailable, match="the pinned structured_output: json_schema"):
        ask_twice(url, structured_output="json_schema")
    assert len(fake.requests) == 1


def test_a_refused_grammar_field_is_dropped_and_said_once() -> None:
    fake = FakeOpenAI(text="GET Patient", refuse=lambda body: (
        (400, "Unrecognized request argument supplied: grammar") if "grammar" in body else None))
    notes: list[str] = []
    with serve(fake.app()) as url:
        model = OpenAICompatibleModel(base_url=f"{url}/v1", model="fake", retries=1)
        model.on_note = notes.append

        async def run():
            try:
                return [await model.chat(MESSAGES, grammar='root ::= "GET " [A-Za-z]+') for _ in range(2)]
            finally:
                await model.aclose()

        replies = asyncio.run(run())
    assert [reply.text for reply in replies] == ["GET Patient"] * 2
    assert ["grammar" in request for request in fake.requests] == [True, False, False]
    assert len(notes) == 1 and "refused the grammar field 'grammar'" in notes[0] and not model.supports_grammar


def test_a_5xx_that_names_nothing_asked_is_still_an_outage_retried() -> None:
    fake = FakeOpenAI(plan=["500", "ok"], text='{"label": "units"}')
    with serve(fake.app()) as url:
        verdicts, notes = ask_twice(url)
    assert verdicts[0].label == "units" and fake.requests[1]["response_format"]["type"] == "json_schema"
    assert notes == [f"structured output from {url}/v1/: json_schema"]
