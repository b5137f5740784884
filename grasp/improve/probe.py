"""Choosing the probe: held-out items, half failing now and half passing now, stratified by family.

Deterministic for a seed whatever PYTHONHASHSEED is: inputs are sorted before
sampling and each decision gets its own ``random.Random`` seeded by a string.
Items in the current batch are never eligible (the paper's code probed the
batch itself on the first decision).
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable

from ..tasks import Task


def sample_probe(
    candidates: Iterable[tuple[Task, bool]],
    *,
    size: int,
    exclude: set[str],
    seed: str,
    focus: frozenset[str] = frozenset(),
) -> list[Task]:
    """Pick up to ``size`` tasks from (task, passing-now) pairs outside ``exclude``.

    Half come from failing items and half from passing ones (the other side
    fills in when one side runs short); within each side, families take turns
    so every family present is represented. The failing side is drawn from the
    ``focus`` families (those the candidates were built for) first: a probe whose
    failing items all belong to other families cannot show the fix a candidate
    was written for, and refuses it for that alone (seen on the main job, where
    a family's few failing dev items went to other families' turns).
    """
    rng = random.Random(seed)
    pool = sorted({task.id: (task, passing) for task, passing in candidates if task.id not in exclude}.values(),
                  key=lambda pair: pair[0].id)
    failing = [task for task, passing in pool if not passing]
    passing = [task for task, passing in pool if passing]
    want_failing = min(len(failing), size // 2 + size % 2)
    want_passing = min(len(passing), size - want_failing)
    want_failing = min(len(failing), size - want_passing)
    focused = [task for task in failing if task.family in focus]
    others = [task for task in failing if task.family not in focus]
    from_focus = min(len(focused), want_failing)
    chosen = (_stratified(focused, from_focus, rng) + _stratified(others, want_failing - from_focus, rng)
              + _stratified(passing, want_passing, rng))
    return sorted(chosen, key=lambda task: task.id)


def _stratified(tasks: list[Task], count: int, rng: random.Random) -> list[Task]:
    by_family: dict[str, list[Task]] = defaultdict(list)
    for task in tasks:
        by_family[task.family].append(task)
    queues = {family: rng.sample(items, len(items)) for family, items in sorted(by_family.items())}
    order = sorted(queues)
    rng.shuffle(order)
    picked: list[Task] = []
    while len(picked) < count:
        for family in order:
            if queues[family] and len(picked) < count:
                picked.append(queues[family].pop())
    return picked


def sample_random(candidates: Iterable[tuple[Task, bool]], *, size: int, exclude: set[str], seed: str,
                  focus: frozenset[str] = frozenset()) -> list[Task]:
    """An unbalanced probe: ``size`` eligible tasks drawn uniformly (the ablation of balancing, so no focus)."""
    pool = sorted((task for task, _ in candidates if task.id not in exclude), key=lambda task: task.id)
    unique = list({task.id: task for task in pool}.values())
    return sorted(random.Random(seed).sample(unique, min(size, len(unique))), key=lambda task: task.id)


# How the probe is sampled, by name (``gate.sampler``).
SAMPLERS = {"balanced": sample_probe, "random": sample_random}
