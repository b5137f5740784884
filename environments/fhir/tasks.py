"""Drawing the FHIR tasks and writing the split manifest that lives under ``probes/``.

The manifest is generated once from the world seed and committed, so every run
reads the same dev / val / test / ood tasks; its hash is recorded by each run.
"""

from __future__ import annotations

import random

from grasp.tasks import Task
from probes.manifest import Manifest

from .families import FAMILIES, OOD_FAMILIES, WorldIndex
from .world import DEFAULT_PATIENTS, DEFAULT_SEED, WORLD_VERSION, generate

SPLIT_SIZES = {"dev": 12, "val": 10, "test": 8}  # per in-distribution family, as in the GRASP paper
OOD_PER_FAMILY = 30


def draw_manifest(seed: int = DEFAULT_SEED, patients: int = DEFAULT_PATIENTS, *, sizes: dict[str, int] | None = None,
                  ood_per_family: int = OOD_PER_FAMILY, reserved: frozenset[str] = frozenset()) -> Manifest:
    """Draw every family's instances and deal them into disjoint splits (``reserved``: see ``generate``)."""
    sizes = sizes or SPLIT_SIZES
    index = WorldIndex(generate(seed, patients, reserved=reserved))
    splits: dict[str, list[Task]] = {name: [] for name in (*sizes, "ood")}
    for name, family in sorted(FAMILIES.items()):
        rng = random.Random(f"{seed}:{name}")
        if name in OOD_FAMILIES:
            splits["ood"].extend(family.instances(index, rng, ood_per_family))
            continue
        tasks = family.instances(index, rng, sum(sizes.values()))
        rng.shuffle(tasks)
        start = 0
        for split, size in sizes.items():
            share = round(size * len(tasks) / sum(sizes.values()))
            splits[split].extend(tasks[start : start + share])
            start += share
    return Manifest(
        environment="fhir",
        world={"version": WORLD_VERSION, "seed": seed, "patients": patients},
        splits=splits,
    )
