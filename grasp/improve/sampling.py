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

from ..tasks import Task


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
