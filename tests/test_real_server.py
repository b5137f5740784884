"""The OpenAI-compatible path against a server nobody here wrote: llama.cpp's own (`python -m llama_cpp.server`).

It serves the 135M smoke-test GGUF on a loopback port. What it refuses (`json_schema`, as a 500), what it
takes (`json_object` with a schema, a `grammar` field) and how slowly it answers are its own, not a script's.
The fake server (tests/helpers.py) stays for the failures a real server will not produce on demand.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import httpx
import pytest
from pydantic import BaseModel

from grasp.config import ModelConfig, RunConfig
from grasp.errors import ModelUnavailable
from grasp.models import OpenAICompatibleModel, load_model, structured

pytestmark = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")

MESSAGES = [{"role": "user", "content": "Is a glucose reading a lab or a vital sign? Answer with a label."}]


class Verdict(BaseModel):
    label: Literal["lab", "vital"]


@pytest.fixture(scope="module")
def server(smoke_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama.cpp's OpenAI-compatible server on a free loopback port; yields its base URL (ending in /v1)."""
    log = tmp_path_factory.mktemp("server") / "server.log"
    with socket.socket() as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smoke_gguf), "--model_alias", "smollm2",
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--seed", "0", "--verbose", "False"]
    with log.open("w") as sink:  # a file, not a pipe: llama.cpp's log would fill a pipe and stall the server
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}: {log.read_text()[-500:]}")
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.3)
        else:
            pytest.fail(f"llama_cpp.server did not answer within 90 s: {log.read_text()[-500:]}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


class Recording(httpx.AsyncBaseTransport):
    """A real HTTP transport that keeps each request's JSON body, to see what was sent."""

    def __init__(self) -> None:
        self.inner, self.bodies = httpx.AsyncHTTPTransport(), []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(json.loads(request.content))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def endpoint(url: str, **options) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(base_url=url, model="smollm2", **{"max_tokens": 64, **options})


def run(coroutine_factory, model: OpenAICompatibleModel):
    async def wrapped():
        try:
            return await coroutine_factory()
        finally:
            await model.aclose()

    return asyncio.run(wrapped())


def test_a_chat_answers_with_its_usage(server: str) -> None:
    model = endpoint(server, max_tokens=8)
    result = run(lambda: model.chat(MESSAGES), model)
    assert result.text and result.prompt_tokens > 10 and 0 < result.completion_tokens <= 8


def test_the_environments_action_grammar_holds_over_the_endpoint(server: str) -> None:
    from environments.fhir.protocol import ACTION_GRAMMAR, Action, parse_action

    model = endpoint(server)
    prompt = [{"role": "system", "content": "You query a FHIR server. Reply with one action."},
              {"role": "user", "content": "Find the patient with MRN S1234567, then list the next steps."}]
    result = run(lambda: model.chat(prompt, grammar=ACTION_GRAMMAR), model)
    parsed = parse_action(result.text)
    assert isinstance(parsed, Action) and parsed.ignored == "", result.text  # one action, nothing after it


def test_a_refused_json_schema_falls_back_once_and_the_next_call_uses_the_remembered_form(server: str) -> None:
    transport, notes = Recording(), []
    model = endpoint(server, transport=transport)
    model.on_note = notes.append

    async def twice():
        return [(await structured(model, MESSAGES, Verdict, max_tokens=32))[0] for _ in range(2)]

    verdicts = run(twice, model)
    assert all(verdict.label in ("lab", "vital") for verdict in verdicts)
    assert [body.get("response_format", {}).get("type") for body in transport.bodies] == [
        "json_schema", "json_object", "json_object"]
    assert len(notes) == 2 and "Input should be 'text' or 'json_object'" in notes[0]
    assert notes[1] == f"structured output from {server}/: json_object"


def test_a_pinned_form_the_server_refuses_pauses_with_one_line_naming_the_key(server: str) -> None:
    model = endpoint(server, structured_output="json_schema")
    with pytest.raises(ModelUnavailable) as caught:
        run(lambda: structured(model, MESSAGES, Verdict, max_tokens=32), model)
    assert "Set structured_output" in str(caught.value) and "\n" not in str(caught.value)


def test_a_reply_slower_than_the_timeout_is_retried_then_pauses(server: str) -> None:
    model = endpoint(server, max_tokens=48, timeout_s=0.05, retries=1)
    with pytest.raises(ModelUnavailable, match="timed out after 0.05 s.*gave up after 2 attempts"):
        run(lambda: model.chat(MESSAGES), model)


def test_a_short_improve_runs_through_the_server_and_records_the_form(server: str, tmp_path: Path) -> None:
    from environments.arithmetic import ArithmeticEnvironment
    from grasp.improve import improve

    # The reflection source asks for a structured lesson on every decision: the run meets the form question.
    config = RunConfig(environment="arithmetic", epochs=1, batch_size=3, probe_size=2,
                       advanced={"loop": {"candidates": 1, "sources": ["reflection"]}, "gate": {"probe_pool": 0}}, limits={"dev": 3, "val": 2, "test": 2}, max_rounds=2)
    model = load_model(ModelConfig(provider="openai", model="smollm2", base_url=server, max_tokens=24))

    async def learn():
        try:
            return await improve(ArithmeticEnvironment(per_split=3), model, config, db=tmp_path / "g.db")
        finally:
            await model.aclose()

    result = asyncio.run(learn())
    assert result.state.test and result.state.test["final"]["total"] == 2
    assert any(note.startswith(f"structured output from {server}/: ") for note in result.state.notes), result.state.notes
