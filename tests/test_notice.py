"""The last-round notice: on the message the executor reads before its last allowed action, and nowhere else."""

from __future__ import annotations

import asyncio
from pathlib import Path

from environments.arithmetic import ArithmeticEnvironment, safe_eval
from environments.fhir.environment import FhirEnvironment
from grasp.agent import run_episode
from grasp.config import RunConfig
from grasp.improve import improve
from grasp.models import ScriptedModel
from grasp.store import Database
from grasp.store.runs import RunStore

from .improve.scripted_run import config, proposer

NOTICE = "LAST ACTION: answer now."


def recorder(replies: list[str]) -> tuple[ScriptedModel, list[list[dict[str, str]]]]:
    seen: list[list[dict[str, str]]] = []

    def reply(messages: list[dict[str, str]]) -> str:
        seen.append([dict(message) for message in messages])  # a snapshot: the loop appends to the list
        return replies[len(seen) - 1] if len(seen) <= len(replies) else "CALC: 1 + 1"

    return ScriptedModel(reply, name="recorder"), seen


def test_the_notice_reaches_only_the_last_round() -> None:
    environment = ArithmeticEnvironment(seed=0)
    task = environment.tasks("dev")[0]
    model, seen = recorder(["CALC: 1 + 1", "CALC: 2 + 2", "CALC: 3 + 3"])
    episode = asyncio.run(run_episode(environment, task, model, [], max_rounds=3, notice=NOTICE))
    assert len(seen) == 3 and episode.rounds == 3
    assert [NOTICE in message["content"] for message in seen[2]] == [False] * (len(seen[2]) - 1) + [True]
    assert not any(NOTICE in message["content"] for call in seen[:2] for message in call)
    assert sum(m["content"].endswith(NOTICE) for m in episode.messages) == 1  # the record shows what it read


def test_with_one_round_the_task_prompt_carries_the_notice_and_none_means_none() -> None:
    environment = ArithmeticEnvironment(seed=0)
    task = environment.tasks("dev")[0]
    model, seen = recorder(["ANSWER: 1"])
    asyncio.run(run_episode(environment, task, model, [], max_rounds=1, notice=NOTICE))
    assert seen[0][-1]["content"].endswith(NOTICE) and seen[0][-1]["role"] == "user"
    model, seen = recorder(["CALC: 1 + 1", "ANSWER: 2"])
    asyncio.run(run_episode(environment, task, model, [], max_rounds=2, notice=None))
    assert not any("LAST" in message["content"] for call in seen for message in call)


def test_an_improve_run_gives_the_notice_to_every_episode_alike(tmp_path: Path) -> None:
    """An executor that answers only when told it is its last turn: with the notice, no-skill and final
    episodes alike pass; without it, nothing passes."""

    def reply(messages: list[dict[str, str]]) -> str:
        if NOTICE not in messages[-1]["content"]:
            return "CALC: 0 + 0"
        question = messages[1]["content"].split("What is ")[1].rstrip("?")
        return f"ANSWER: {safe_eval(question)}"

    environment = ArithmeticEnvironment(seed=1, per_split=9)
    with_notice = config(candidates=1, epochs=1).with_advanced(last_round_notice=NOTICE)
    result = asyncio.run(improve(environment, ScriptedModel(reply, name="waits"), with_notice, db=tmp_path / "a.db",
                                 proposer=proposer([])))
    assert result.state.test["no_skills"]["passed"] == 9 and result.state.val[0].accuracy == 1.0
    without = with_notice.with_advanced(last_round_notice=None)
    result = asyncio.run(improve(environment, ScriptedModel(reply, name="waits"), without, db=tmp_path / "b.db",
                                 proposer=proposer([])))
    assert result.state.test["no_skills"]["passed"] == 0 and result.state.val[0].accuracy == 0.0


def test_the_default_notice_is_the_environments_own_and_the_run_records_the_text(tmp_path: Path) -> None:
    environment = ArithmeticEnvironment(seed=1, per_split=9)
    own = environment.last_round_notice()
    assert "ANSWER" in own and "FINISH" not in own  # it names this environment's answer form

    def reply(messages: list[dict[str, str]]) -> str:
        if own not in messages[-1]["content"]:
            return "CALC: 0 + 0"
        question = messages[1]["content"].split("What is ")[1].rstrip("?")
        return f"ANSWER: {safe_eval(question)}"

    default = config(candidates=1, epochs=1).with_advanced(last_round_notice=RunConfig().advanced.last_round_notice)
    result = asyncio.run(improve(environment, ScriptedModel(reply, name="waits"), default, db=tmp_path / "a.db",
                                 proposer=proposer([])))
    assert result.state.test["no_skills"]["passed"] == 9
    assert RunStore(Database(tmp_path / "a.db")).get(result.run_id).config["advanced"]["last_round_notice"] == own
    # FHIR's own is the text every recorded FHIR run read, so its executor prompts (and reply cache) are unchanged
    assert FhirEnvironment.last_round_notice(None) == "This is your last action: reply with FINISH and your answer now."
