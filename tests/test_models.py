"""Model clients: the OpenAI-compatible client over real HTTP, structured output, the embedded runtime."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from pathlib import Path

import pytest
from pydantic import BaseModel

from grasp.errors import ModelError
from grasp.models import ModelUnavailable, OpenAICompatibleModel, ScriptedModel, structured

from .helpers import FakeOpenAI, serve

MESSAGES = [{"role": "user", "content": "hi"}]


def client(url: str, **options) -> OpenAICompatibleModel:
    return OpenAICompatibleModel(base_url=f"{url}/v1", model="fake", retries=options.pop("retries", 3), **options)


def chat(model: OpenAICompatibleModel, **options):
    async def run():
        try:
            return await model.chat(MESSAGES, **options)
        finally:
            await model.aclose()

    return asyncio.run(run())


def test_retries_429_and_500_then_succeeds() -> None:
    fake = FakeOpenAI(plan=["429", "500", "ok"], text="GET Patient")
    with serve(fake.app()) as url:
        result = chat(client(url))
    assert result.text == "GET Patient" and result.prompt_tokens == 11 and result.completion_tokens == 3
    assert len(fake.requests) == 3


def test_persistent_failure_becomes_model_unavailable() -> None:
    fake = FakeOpenAI(plan=["500"] * 10)
    with serve(fake.app()) as url, pytest.raises(ModelUnavailable, match="HTTP 500.*gave up after 3 attempts"):
        chat(client(url, retries=2))


def test_timeouts_are_retried_then_reported() -> None:
    fake = FakeOpenAI(plan=["sleep", "sleep"])
    with serve(fake.app()) as url, pytest.raises(ModelUnavailable, match="timed out"):
        chat(client(url, retries=1, timeout_s=0.3))


def test_malformed_reply_is_a_clear_error() -> None:
    fake = FakeOpenAI(plan=["malformed"])
    with serve(fake.app()) as url, pytest.raises(ModelError, match="malformed reply"):
        chat(client(url))


def test_the_api_key_is_sent_but_never_logged_or_raised(monkeypatch, caplog) -> None:
    secret = "sk-test-very-secret-123"
    monkeypatch.setenv("GRASP_TEST_KEY", secret)
    caplog.set_level(logging.DEBUG)
    fake = FakeOpenAI(plan=["500"] * 5)
    with serve(fake.app()) as url, pytest.raises(ModelUnavailable) as caught:
        chat(client(url, retries=1, api_key_env="GRASP_TEST_KEY"))
    assert fake.headers[0]["authorization"] == f"Bearer {secret}"
    assert secret not in str(caught.value) and secret not in caplog.text


def test_missing_key_variable_is_named() -> None:
    model = OpenAICompatibleModel(base_url="http://127.0.0.1:9/v1", model="m", api_key_env="GRASP_NO_SUCH_KEY")
    with pytest.raises(ModelError, match="GRASP_NO_SUCH_KEY is not set"):
        chat(model)


def test_schema_is_sent_as_response_format() -> None:
    fake = FakeOpenAI(text='{"name": "x", "score": 2}')

    class Out(BaseModel):
        name: str
        score: int

    with serve(fake.app()) as url:
        model = client(url)
        value, results = asyncio.run(structured(model, MESSAGES, Out))
    assert value == Out(name="x", score=2) and len(results) == 1
    assert fake.requests[0]["response_format"]["json_schema"]["schema"]["required"] == ["name", "score"]


class Verdict(BaseModel):
    label: str


def test_structured_output_repairs_once_then_fails_clearly() -> None:
    replies = ["not json at all", '```json\n{"label": "units"}\n```']
    value, results = asyncio.run(structured(ScriptedModel(replies), MESSAGES, Verdict))
    assert value.label == "units" and len(results) == 2
    with pytest.raises(ModelError, match="no valid Verdict after one repair attempt"):
        asyncio.run(structured(ScriptedModel(["{}", '{"other": 1}']), MESSAGES, Verdict))


def smoke_model(gguf: Path, max_tokens: int):
    """The 135M smoke-test weights through the real llama.cpp runtime (not a model to judge output by)."""
    from grasp.models.local import LocalModel

    return LocalModel(gguf, n_ctx=1024, max_tokens=max_tokens, n_threads=2)


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_real_llama_cpp_produces_one_grammar_constrained_action(smoke_gguf: Path) -> None:
    from environments.fhir.protocol import ACTION_GRAMMAR, Action, parse_action

    model = smoke_model(smoke_gguf, 48)
    prompt = [{"role": "system", "content": "You query a FHIR server. Reply with one action."},
              {"role": "user", "content": "Find the patient with MRN S1234567."}]
    result = asyncio.run(model.chat(prompt, grammar=ACTION_GRAMMAR))
    assert isinstance(parse_action(result.text), Action), result.text
    assert result.prompt_tokens > 0 and result.completion_tokens > 0


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_a_role_with_its_own_context_answers_alike_and_leaves_the_others_prompt_processed(smoke_gguf: Path) -> None:
    executor = smoke_model(smoke_gguf, 12)
    writer = executor.with_own_context()
    task = [{"role": "system", "content": "You query a FHIR server. Reply with one action."},
            {"role": "user", "content": "Find the patient with MRN S1234567."}]
    brief = [{"role": "system", "content": "You write short how-tos."}, {"role": "user", "content": "Name one step."}]
    first = asyncio.run(executor.chat(task))
    processed = list(executor._llm.input_ids)  # the executor's prompt and reply, held in its KV cache
    assert asyncio.run(writer.chat(task)).text == first.text  # the same weights and settings
    asyncio.run(writer.chat(brief))
    assert list(executor._llm.input_ids) == processed  # the writer's calls left the executor's head in place
    assert writer.id == executor.id and writer.identity == executor.identity and writer._lock is executor._lock


def test_a_key_over_plain_http_to_another_host_is_warned_about_once(monkeypatch) -> None:
    import warnings

    from grasp.models.openai import exposes_key

    assert exposes_key("http://10.0.0.5:8000/v1") and not exposes_key("https://api.example.com/v1")
    assert not exposes_key("http://localhost:8000/v1") and not exposes_key("http://127.0.0.1:9/v1")
    monkeypatch.setenv("GRASP_TEST_KEY", "sk-x")
    model = OpenAICompatibleModel(base_url="http://10.0.0.5:8000/v1", model="m", api_key_env="GRASP_TEST_KEY")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model._headers()
        model._headers()
    assert len(caught) == 1 and "plain http" in str(caught[0].message) and "sk-x" not in str(caught[0].message)


def test_the_cache_identity_names_the_endpoint_or_the_weights() -> None:
    first = OpenAICompatibleModel(base_url="http://a:1/v1", model="same")
    second = OpenAICompatibleModel(base_url="http://b:1/v1", model="same")
    assert first.id == second.id and first.identity != second.identity


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_real_llama_cpp_writes_a_skill_draft_whose_frontmatter_the_grammar_fixes(smoke_gguf: Path) -> None:
    from grasp.improve.drafts import ACTIONS, DRAFT_GRAMMAR
    from grasp.skillfiles import split_frontmatter

    model = smoke_model(smoke_gguf, 96)
    prompt = [{"role": "system", "content": "You write skills for an agent as SKILL.md drafts."},
              {"role": "user", "content": "Write a skill for looking up a patient's latest lab value."}]
    result = asyncio.run(model.chat(prompt, grammar=DRAFT_GRAMMAR))
    front, _ = split_frontmatter(result.text, "the draft")
    assert front["action"] in ACTIONS and isinstance(front["name"], str), result.text
    assert isinstance(front["description"], str) and len(front["description"]) >= 10, result.text


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="llama-cpp-python is not installed")
def test_the_whole_loop_runs_in_process_on_an_environment_that_is_not_an_http_api(smoke_gguf: Path,
                                                                                   tmp_path: Path) -> None:
    """Arithmetic (CALC / ANSWER lines, no protocol, no hints) with the real runtime as executor and writer: the
    loop reaches its sealed test and stores what it did. What the 135M model answers is not judged."""
    from environments.arithmetic import ArithmeticEnvironment
    from grasp.config import RunConfig
    from grasp.improve import improve
    from grasp.store import Database
    from grasp.store.runs import RunStore

    model = smoke_model(smoke_gguf, 24)
    config = RunConfig(environment="arithmetic", limits={"dev": 6, "val": 0, "test": 3}, max_rounds=2, batch_size=3,
                       probe_size=2, advanced={"loop": {"refinements": 0}, "reference": False})
    result = asyncio.run(improve(ArithmeticEnvironment(per_split=6), model, config, db=tmp_path / "g.db"))
    assert result.state.test["final"]["total"] == result.state.test["no_skills"]["total"] == 3
    runs = RunStore(Database(tmp_path / "g.db"))
    assert runs.count_episodes(result.run_id, phase="train") == 4  # the 6 dev items but the 2 held for probes
    assert runs.count_search_calls(result.run_id) == 0  # no protocol: nothing is replayable, no search runs
    assert {usage.role for usage in runs.usage(result.run_id)} >= {"executor"}
