"""A write's JSON body gets a larger token budget than a one-line read (``Environment.action_tokens``)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from environments.fhir.environment import WRITE_TOKENS, FhirEnvironment
from grasp.agent import run_episode
from grasp.models.base import ChatResult, Model
from probes.manifest import Manifest

from .test_families import all_tasks, bp_observation


class ScriptedTruncatingModel(Model):
    """A scripted model that honours ``max_tokens`` as a real runtime does: the reply is cut at four
    characters a token and reported with finish_reason "length"."""

    def __init__(self, replies: list[str], max_tokens: int) -> None:
        self.id = "scripted:truncating"
        self.replies, self.max_tokens = replies, max_tokens
        self.budgets: list[int] = []

    async def chat(self, messages: list[dict[str, str]], **options: Any) -> ChatResult:
        budget = options.get("max_tokens") or self.max_tokens
        self.budgets.append(budget)
        full = self.replies[min(len(messages) // 2 - 1, len(self.replies) - 1)]
        cut = full[: budget * 4]
        return ChatResult(text=cut, model=self.id, completion_tokens=len(cut) // 4,
                          finish_reason="length" if len(cut) < len(full) else "stop")


def test_a_write_cut_at_the_read_limit_is_generated_again_with_the_write_budget(
        env: FhirEnvironment, manifest: Manifest) -> None:
    task = next(t for t in all_tasks(manifest) if t.family == "record_bp")
    body = bp_observation(task)
    model = ScriptedTruncatingModel([f"POST Observation\n{json.dumps(body)}", "FINISH([])"], max_tokens=24)
    episode = asyncio.run(run_episode(env, task, model, [], max_rounds=2))
    asyncio.run(env.aclose())
    assert model.budgets == [24, WRITE_TOKENS, 24]  # the write once more with its budget, then the answer
    assert episode.passed and episode.step_ok == [True, True], episode.reason


def test_a_read_cut_at_the_limit_is_not_generated_again(env: FhirEnvironment, manifest: Manifest) -> None:
    task = next(t for t in all_tasks(manifest) if t.family == "latest_glucose")
    runaway = "GET Observation?patient=" + task.solution["mrn"] + "&code=GLU&_count=" + "0" * 400
    model = ScriptedTruncatingModel([runaway, "FINISH([-1])"], max_tokens=24)
    asyncio.run(run_episode(env, task, model, [], max_rounds=2))
    asyncio.run(env.aclose())
    assert model.budgets == [24, 24]
