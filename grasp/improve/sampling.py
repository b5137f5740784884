"""Drawing a few tasks from many so that every family, and every stratum within it, is represented.

A plain random draw of 16 dev tasks from three families can leave a family with no task whose answer
is a real value (seen on seed 2 of the main job: no value item of the lookup family in dev, so it could
never fail, never be learned, never be probed). Families take turns; within a family its strata take
turns; within a stratum the order is random. Deterministic for a seed string whatever PYTHONHASHSEED is.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence

from ..config import RunConfig
from ..environment import Environment
from ..errors import ConfigError
from ..tasks import Task
from .state import RunState


def balanced_sample(tasks: Sequence[Task], count: int, *, seed: str,
                    stratum: Callable[[Task], str] = lambda task: "all") -> list[Task]:
    """``count`` of ``tasks`` (all of them when there are no more), families and strata taking turns,
    sorted by id."""
    rng = random.Random(seed)
    nested: dict[str, dict[str, list[Task]]] = defaultdict(lambda: defaultdict(list))
    for task in sorted(tasks, key=lambda t: t.id):
        nested[task.family][stratum(task)].append(task)
    queues = [_interleaved(strata, rng) for _, strata in sorted(nested.items())]
    rng.shuffle(queues)  # which family gets the odd extra task is the seed's choice
    chosen: list[Task] = []
    while len(chosen) < count and any(queues):
        for queue in queues:
            if queue and len(chosen) < count:
                chosen.append(queue.pop(0))
    return sorted(chosen, key=lambda task: task.id)


def _interleaved(strata: dict[str, list[Task]], rng: random.Random) -> list[Task]:
    """One family's tasks in the order they are taken: its strata in turn, each stratum shuffled."""
    shuffled = [rng.sample(items, len(items)) for _, items in sorted(strata.items())]
    rng.shuffle(shuffled)
    order: list[Task] = []
    while any(shuffled):
        for items in shuffled:
            if items:
                order.append(items.pop())
    return order


def run_tasks_of(split: str, environment: Environment, config: RunConfig, state: RunState, run_id: str) -> list[Task]:
    """The tasks a run uses of ``split``: the config's families, a balanced draw of ``limits[split]``. The ids are
    stored in ``state.drawn`` at the first draw, and a resumed run gets exactly those (even from a grasp whose
    draw would come out differently); a stored task gone from ``environment`` is named."""
    tasks = environment.tasks(split)
    if split in state.drawn:
        by_id = {task.id: task for task in tasks}
        missing = [task_id for task_id in state.drawn[split] if task_id not in by_id]
        if missing:
            raise ConfigError(f"run {run_id}: {len(missing)} of its {split} task(s) are gone from the "
                              f"environment ({', '.join(missing[:3])}); it cannot be resumed on these tasks")
        return [by_id[task_id] for task_id in state.drawn[split]]
    if config.families:
        tasks = [task for task in tasks if task.family in config.families]
    limit = config.limits.get(split)
    if limit is not None:
        tasks = balanced_sample(tasks, limit, seed=f"{config.seed}:limit:{split}", stratum=environment.stratum)
    if split == "test" and not tasks:
        raise ConfigError(f"the sealed test ({environment.world() or 'the test split'}) holds no task of the run's "
                          f"families ({', '.join(config.families or ['any'])})")
    state.drawn[split] = [task.id for task in tasks]
    return tasks
