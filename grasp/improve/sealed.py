"""The sealed test: read once at the end of a run, and measured against every yardstick.

No skills and the final library run on the same items (a paired comparison), beside the
environment's trivial answer (graded without a model) and its reference library when it has one
(grasp/yardsticks.py says why each is there).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from ..environment import Environment, Episode
from ..errors import SealedSplitError
from ..evaluate import EvalResult
from ..skills import Skill
from ..stats import paired
from ..tasks import Task
from ..yardsticks import summary, trivial_episodes
from .state import RunState

RunEpisodes = Callable[[list[Task], dict[str, Skill], str], Awaitable[list[Episode]]]


class SealedSplit:
    """The test split: readable once per run, and the code refuses a second read."""

    def __init__(self, tasks: list[Task], state: RunState) -> None:
        self._tasks, self._state = tasks, state

    def read(self) -> list[Task]:
        if self._state.test_read:
            raise SealedSplitError("the sealed test split was already read in this run")
        self._state.test_read = True
        return list(self._tasks)

    def resume_read(self) -> list[Task]:
        """Finish a read that a crash interrupted (its stored episodes are reused, none re-run)."""
        if not self._state.test_read or self._state.test:
            raise SealedSplitError("no interrupted read of the sealed test split to resume")
        return list(self._tasks)


def _outcomes(result: EvalResult) -> dict[str, bool]:
    return {episode.task_id: episode.passed for episode in result.episodes}


async def sealed_test(environment: Environment, tasks: list[Task], final_skills: dict[str, Skill], final_version: int,
                      run: RunEpisodes, *, reference: bool, development: Environment | None = None) -> dict[str, Any]:
    """The sealed-test record: no skills -> final (paired, overall and per stratum), the trivial answer
    and, when ``reference`` and the environment ships one, the reference library, all on ``tasks`` of
    ``environment`` (the held-out world; ``development``: the one dev and val came from, named beside it).
    ``run(tasks, skills, prefix)`` runs stored, resumable episodes."""
    none = EvalResult(episodes=await run(tasks, {}, "test:none"))
    learned = none  # the final library may be the no-skill one: the same episodes, not run twice
    if final_skills:
        learned = EvalResult(episodes=await run(tasks, final_skills, "test:final"))
    trivial = {e.task_id: e.passed for e in await trivial_episodes(environment, tasks)}
    reference_outcomes = None
    reference_skills = {skill.name: skill for skill in environment.reference_library()} if reference else {}
    if reference_skills:
        reference_outcomes = _outcomes(EvalResult(episodes=await run(tasks, reference_skills, "test:reference")))
    record: dict[str, Any] = {
        "no_skills": {"passed": none.passed, "total": len(none.episodes), "accuracy": none.accuracy,
                      "ci95": list(none.interval())},
        "final": {"passed": learned.passed, "total": len(learned.episodes), "accuracy": learned.accuracy,
                  "ci95": list(learned.interval()), "version": final_version, "skills": len(final_skills)},
        "paired": paired(_outcomes(none), _outcomes(learned)).model_dump(),
        "world": environment.world(),
        "held_out": development is not None and environment is not development,
        "development_world": (development or environment).world(),
    }
    record.update(summary(tasks, environment, _outcomes(none), _outcomes(learned), trivial, reference_outcomes))
    return record
