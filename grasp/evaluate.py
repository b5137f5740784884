"""Evaluate a library (or no skills) on a set of tasks: the API behind `grasp eval`."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from .agent.runner import run_tasks
from .agent.selection import Selection
from .environment import Environment, Episode
from .models.base import Model
from .skills import Skill
from .store.runs import RunStore
from .tasks import Task


class FamilyScore(BaseModel):
    family: str
    passed: int
    total: int

    @property
    def accuracy(self) -> float:
        return self.passed / self.total if self.total else 0.0


class EvalResult(BaseModel):
    episodes: list[Episode]

    @property
    def passed(self) -> int:
        return sum(episode.passed for episode in self.episodes)

    @property
    def accuracy(self) -> float:
        return self.passed / len(self.episodes) if self.episodes else 0.0

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """Wilson score interval of the accuracy (95% by default)."""
        return wilson(self.passed, len(self.episodes), z)

    def per_family(self) -> list[FamilyScore]:
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for episode in self.episodes:
            counts[episode.family][0] += int(episode.passed)
            counts[episode.family][1] += 1
        return [FamilyScore(family=f, passed=p, total=t) for f, (p, t) in sorted(counts.items())]


def wilson(passed: int, total: int, z: float = 1.96) -> tuple[float, float]:
    if total == 0:
        return 0.0, 0.0
    rate = passed / total
    centre = (rate + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(rate * (1 - rate) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


async def evaluate(
    environment: Environment,
    model: Model,
    tasks: Sequence[Task],
    skills: dict[str, Skill] | None = None,
    *,
    runs: RunStore | None = None,
    run_id: str | None = None,
    phase: str = "eval",
    key_prefix: str = "eval",
    concurrency: int = 1,
    max_rounds: int | None = None,
    notice: str | None = None,
    selection: Selection = Selection(),
    on_episode: Callable[[Episode], None] | None = None,
) -> EvalResult:
    episodes = await run_tasks(
        environment, model, tasks, skills or {}, phase=phase, key_prefix=key_prefix, runs=runs, run_id=run_id,
        selection=selection, concurrency=concurrency, max_rounds=max_rounds, notice=notice,
        on_episode=on_episode,
    )
    return EvalResult(episodes=[episode for episode in episodes if episode is not None])
