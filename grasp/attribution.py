"""Per-skill attribution: which skill earned the gain.

The library is evaluated whole and with each skill left out in turn, on the same tasks; each
skill's paired fixed/broken counts compare the full library with the library lacking it (fixed:
passes only with the skill; broken: passes only without it), with an exact McNemar p-value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel

from .agent.selection import Selection
from .environment import Environment, Episode
from .evaluate import evaluate
from .models.base import Model
from .skills import Skill
from .stats import Paired, paired
from .store.runs import RunStore
from .tasks import Task


class SkillCredit(BaseModel):
    skill: str
    comparison: Paired  # without the skill -> with it (the full library)


async def attribute(environment: Environment, model: Model, tasks: Sequence[Task], skills: dict[str, Skill], *,
                    runs: RunStore | None = None, run_id: str | None = None, selection: Selection = Selection(),
                    on_episode: Callable[[Episode], None] | None = None) -> tuple[float, list[SkillCredit]]:
    """The full library's accuracy, and each skill's credit (largest net gain first)."""
    options = {"runs": runs, "run_id": run_id, "selection": selection, "on_episode": on_episode,
               "phase": "attribute"}
    full = await evaluate(environment, model, tasks, skills, key_prefix="attribute:full", **options)
    with_all = {e.task_id: e.passed for e in full.episodes}
    credits = []
    for name in sorted(skills):
        rest = {other: skill for other, skill in skills.items() if other != name}
        without = await evaluate(environment, model, tasks, rest, key_prefix=f"attribute:without:{name}", **options)
        credits.append(SkillCredit(skill=name, comparison=paired({e.task_id: e.passed for e in without.episodes},
                                                                 with_all)))
    credits.sort(key=lambda credit: (-(credit.comparison.fixed - credit.comparison.broken), credit.skill))
    return full.accuracy, credits
