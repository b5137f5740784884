"""Yardsticks a shortcut cannot fool: strata, the trivial answer and the reference library.

A lift on a sealed test means little if a constant answer earns it. So every sealed result is
shown three more ways, all on the same items:

- **per stratum** (``Environment.stratum``): the paired no-skills -> final comparison within
  each stratum, e.g. the items whose answer is a real value apart from the "none" items;
- **the trivial answer** (``Environment.trivial_answer``), graded without a model: what a
  do-nothing policy scores;
- **the reference library** (``Environment.reference_library``): a hand-written library, the
  ceiling skills can reach here, and the share of its lift the learned library recovered;
- **per family**, when a run has more than one: a lift on one family can hide a loss on another, and a
  family nothing can pass (not even the reference) must be named, not averaged away.

The lines this module writes start with fixed words (``sealed test [value]:``, ``trivial
answer:``, ``reference library:``, ``sealed family NAME:``) so that scripts can read them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from .environment import Environment, Episode
from .stats import Paired, paired
from .tasks import Task


class Score(BaseModel):
    """Passes out of items, overall and per stratum."""

    passed: int
    total: int
    strata: dict[str, list[int]] = Field(default_factory=dict)  # stratum -> [passed, total]

    @property
    def accuracy(self) -> float:
        return self.passed / self.total if self.total else 0.0

    def line(self) -> str:
        return f"{self.passed}/{self.total} ({self.accuracy:.0%})"

    def stratum_line(self, name: str) -> str:
        passed, total = self.strata.get(name, [0, 0])
        return f"{name} {passed}/{total} ({passed / total:.0%})" if total else f"{name} 0/0"

    def summary(self) -> str:
        """The overall line, then each stratum's when there is more than one."""
        if len(self.strata) < 2:
            return self.line()
        return f"{self.line()}; " + ", ".join(self.stratum_line(name) for name in self.strata)


def strata_of(environment: Environment, tasks: Sequence[Task]) -> dict[str, str]:
    """Task id -> stratum name."""
    return {task.id: environment.stratum(task) for task in tasks}


def score(outcomes: Mapping[str, bool], strata: Mapping[str, str]) -> Score:
    """``outcomes`` (task id -> passed) counted overall and per stratum."""
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for task_id, passed in outcomes.items():
        counts[strata.get(task_id, "all")][0] += int(passed)
        counts[strata.get(task_id, "all")][1] += 1
    return Score(passed=sum(outcomes.values()), total=len(outcomes), strata=dict(sorted(counts.items())))


def paired_by_stratum(before: Mapping[str, bool], after: Mapping[str, bool],
                      strata: Mapping[str, str]) -> dict[str, Paired]:
    """The paired comparison within each stratum (only when there is more than one stratum)."""
    names = sorted(set(strata.values()))
    if len(names) < 2:
        return {}
    return {name: paired({i: v for i, v in before.items() if strata.get(i) == name},
                         {i: v for i, v in after.items() if strata.get(i) == name}) for name in names}


async def trivial_episodes(environment: Environment, tasks: Sequence[Task]) -> list[Episode]:
    """Each task graded on the environment's trivial answer, with no model and no action."""
    episodes = []
    for task in tasks:
        answer = environment.trivial_answer(task)
        session = await environment.open(task)
        try:
            grade = await session.grade(answer)
        finally:
            await session.close()
        episodes.append(Episode(task_id=task.id, family=task.family, passed=grade.passed, reason=grade.reason,
                                answer=answer, tags=["trivial"]))
    return episodes


def recovered(none: Score, final: Score, reference: Score, stratum: str | None = None) -> float | None:
    """The share of the reference library's lift over no skills that the final library recovered, on the
    same items (None when the reference shows no lift to recover)."""
    def passed(part: Score) -> int:
        return part.passed if stratum is None else part.strata.get(stratum, [0, 0])[0]

    lift = passed(reference) - passed(none)
    return (passed(final) - passed(none)) / lift if lift > 0 else None


def summary(tasks: Sequence[Task], environment: Environment, none: Mapping[str, bool], final: Mapping[str, bool],
            trivial: Mapping[str, bool], reference: Mapping[str, bool] | None) -> dict[str, Any]:
    """The yardstick part of a sealed-test record (stored with the run, as JSON)."""
    strata = strata_of(environment, tasks)
    before, after = score(none, strata), score(final, strata)
    record: dict[str, Any] = {
        "strata": {name: result.model_dump() for name, result in paired_by_stratum(none, final, strata).items()},
        "trivial": score(trivial, strata).model_dump(),
        "no_skills_strata": before.strata,
        "final_strata": after.strata,
    }
    if families := by_family({task.id: task.family for task in tasks}, none, final, trivial, reference):
        record["families"] = families
    if reference is not None:
        ref = score(reference, strata)
        record["reference"] = ref.model_dump()
        record["recovered"] = {"all": recovered(before, after, ref),
                               **{name: recovered(before, after, ref, name) for name in ref.strata}}
    return record


def by_family(families: Mapping[str, str], none: Mapping[str, bool], final: Mapping[str, bool],
              trivial: Mapping[str, bool], reference: Mapping[str, bool] | None) -> dict[str, Any]:
    """Family -> its paired no-skills -> final comparison, trivial passes and reference passes: the strata
    accounting with families as the groups (empty when there is only one family)."""
    trivial_passes = score(trivial, families).strata
    reference_passes = score(reference, families).strata if reference is not None else None
    return {name: {"paired": result.model_dump(), "trivial": trivial_passes.get(name, [0, 0])[0],
                   "reference": None if reference_passes is None else reference_passes.get(name, [0, 0])[0]}
            for name, result in paired_by_stratum(none, final, families).items()}


def family_line(name: str, family: Mapping[str, Any]) -> str:
    """``sealed family NAME: 1/6 -> 6/6, fixed 5, broken 0, p=0.0625; trivial 1/6; reference 6/6``."""
    result = Paired.model_validate(family["paired"])
    line = (f"sealed family {name}: {result.before}/{result.total} -> {result.after}/{result.total}, "
            f"fixed {result.fixed}, broken {result.broken}, p={result.p_value:.3g}; "
            f"trivial {family['trivial']}/{result.total}")
    if family.get("reference") is not None:
        line += f"; reference {family['reference']}/{result.total}"
    return line


def sealed_lines(test: Mapping[str, Any]) -> list[str]:
    """The sealed-test result as lines that begin with fixed words: overall, per stratum, the trivial
    answer, the reference library (a script can read each by its first words)."""
    lines = []
    if test.get("world"):
        lines.append(f"sealed test world: {test['world']}" + (" (held out: nobody developed on it; dev and val: "
                     f"{test.get('development_world')})" if test.get("held_out") else " (the environment's own test split)"))
    if test.get("paired"):
        lines.append(f"sealed test: {Paired.model_validate(test['paired']).one_line()}")
    for name, result in (test.get("strata") or {}).items():
        lines.append(f"sealed test [{name}]: {Paired.model_validate(result).one_line()}")
    if test.get("trivial"):
        lines.append(f"trivial answer: {Score.model_validate(test['trivial']).summary()}")
    if test.get("reference"):
        shares = {name: share for name, share in (test.get("recovered") or {}).items() if share is not None}
        line = f"reference library: {Score.model_validate(test['reference']).summary()}"
        if "all" in shares:
            per = ", ".join(f"{share:.0%} on {name}" for name, share in shares.items() if name != "all")
            line += f"; the learned library recovered {shares['all']:.0%} of its lift" + (f" ({per})" if per else "")
        lines.append(line)
    lines.extend(family_line(name, family) for name, family in (test.get("families") or {}).items())
    return lines
