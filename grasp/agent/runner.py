"""Running many episodes: bounded concurrency, stored under keys, resumable.

An episode already stored under its key is returned from the store instead
of being run again; that single rule gives crash-safe resume to evaluation,
training batches and gate probes alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from ..environment import Environment, Episode
from ..models.base import Model
from ..skills import Skill, content_hash
from ..store.runs import RunStore
from ..tasks import Task
from .loop import run_episode
from .selection import Selection, select_skills


def library_key(skills: dict[str, Skill]) -> str:
    return content_hash(list(skills.values()))[:16]


async def run_tasks(
    environment: Environment,
    model: Model,
    tasks: Sequence[Task],
    skills: dict[str, Skill],
    *,
    phase: str,
    key_prefix: str,
    runs: RunStore | None = None,
    run_id: str | None = None,
    selection: Selection = Selection(),
    concurrency: int = 1,
    max_rounds: int | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    notice: str | None = None,
    should_stop: Callable[[dict[int, Episode]], bool] | None = None,
    on_episode: Callable[[Episode], None] | None = None,
    opening: Sequence[str] = (),
) -> list[Episode | None]:
    """Run ``tasks`` under ``skills``; results in task order.

    ``should_stop`` is asked after each finished episode with the finished
    ones by index; once it says stop, tasks not yet started are skipped and
    come back as None.
    """
    library = library_key(skills)
    results: list[Episode | None] = [None] * len(tasks)
    gate = asyncio.Semaphore(max(1, concurrency))
    stopped = False

    async def one(index: int, task: Task) -> None:
        nonlocal stopped
        async with gate:
            if stopped:
                return
            key = f"{key_prefix}:{task.id}:{library}"
            episode = runs.episode(run_id, key) if runs and run_id else None
            if episode is None:
                chosen = select_skills(skills, task, selection.k, ignore=environment.common_words(),
                                       routing=selection.routing)
                episode = await run_episode(environment, task, model, chosen, max_rounds=max_rounds,
                                            temperature=temperature, seed=seed, notice=notice, opening=opening)
                if runs and run_id:
                    runs.save_episode(run_id, key, phase, episode)
            results[index] = episode
            if on_episode:
                on_episode(episode)
            if should_stop and should_stop({i: r for i, r in enumerate(results) if r is not None}):
                stopped = True

    await asyncio.gather(*(one(index, task) for index, task in enumerate(tasks)))
    return results
