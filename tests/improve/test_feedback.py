"""The grader's words: read by the skill writer on failed training items only, and not at all when turned off.

The environment here is arithmetic whose grader says, for every failed item, a word no other text has
(``GRADER-<task id>``). Every prompt any model was sent, and every action search sent, is searched for them.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest

from environments.arithmetic import ArithmeticEnvironment
from grasp.environment import Session
from grasp.improve import improve
from grasp.store import Database
from grasp.store.runs import RunStore
from grasp.tasks import Grade, Task

from .test_refine import USEFUL, body_aware_executor, scripted_proposer, trial_config

MARK = re.compile(r"GRADER-([\w-]+)")


class Said(Session):
    def __init__(self, inner: Session, task: Task) -> None:
        self.inner, self.task = inner, task

    async def step(self, reply: str):
        return await self.inner.step(reply)

    async def grade(self, answer: list[Any] | None) -> Grade:
        grade = await self.inner.grade(answer)
        return grade if grade.passed else grade.model_copy(update={"reason": f"GRADER-{self.task.id} {grade.reason}"})


class Graded(ArithmeticEnvironment):
    async def open(self, task: Task) -> Session:
        return Said(await super().open(task), task)


def marks_read(tmp_path: Path, method: str) -> tuple[set[str], RunStore]:
    db, prompts = tmp_path / "g.db", []
    executor = body_aware_executor()
    run_config = trial_config().model_copy(update={"method": method})
    asyncio.run(improve(Graded(seed=1, per_split=18), executor, run_config, db=db,
                        proposer=(proposer := scripted_proposer(USEFUL, prompts)), run_id="t"))
    runs = RunStore(Database(db))
    read = " ".join(m["content"] for call in executor.calls + proposer.calls for m in call)
    read += " ".join(call["action"] for call in runs.search_calls("t"))
    return set(MARK.findall(read)), runs


@pytest.mark.parametrize("method", ["grasp", "grasp-no-feedback"])
def test_only_training_items_feedback_reaches_a_prompt_and_none_when_it_is_off(tmp_path: Path, method: str) -> None:
    read, runs = marks_read(tmp_path, method)
    failed = {phase: {e.task_id for e in runs.episodes("t", phase=phase, passed=False)}
              for phase in ("train", "trial", "probe", "test")}
    assert failed["probe"] and failed["test"]  # there were probe and sealed failures whose words could leak
    training = failed["train"] | failed["trial"]
    if method == "grasp":
        assert read and read <= training  # the writer read the grader on training items, and on nothing else
    else:
        assert read == set()
