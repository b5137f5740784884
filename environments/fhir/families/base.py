"""What every FHIR task family shares: the world index, answer parsing, write checks.

A family draws instances with balanced branches from the world, writes the
instruction, and grades an episode from its FINISH answer plus the resources
it wrote on the server (its writes), never from the transcript.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from grasp.tasks import Grade, Task

from ..codes import LABS, NOW, NOW_TEXT
from ..world import World


@dataclass(frozen=True)
class Lab:
    moment: datetime
    value: float
    stamp: str


class WorldIndex:
    """Fast lookups over a generated world, for drawing tasks and their solutions."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.patients = {p["id"]: p for p in world.patients()}
        self.labs: dict[tuple[str, str], list[Lab]] = defaultdict(list)
        self.medications: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for resource in world.resources:
            if resource["resourceType"] == "Observation" and "valueQuantity" in resource:
                mrn = resource["subject"]["reference"].split("/")[1]
                code = resource["code"]["coding"][0]["code"]
                stamp = resource["effectiveDateTime"]
                self.labs[(mrn, code)].append(Lab(datetime.fromisoformat(stamp), resource["valueQuantity"]["value"], stamp))
            elif resource["resourceType"] == "MedicationRequest":
                self.medications[resource["subject"]["reference"].split("/")[1]].append(resource)
        for series in self.labs.values():
            series.sort(key=lambda lab: lab.moment, reverse=True)

    def mrns(self) -> list[str]:
        return sorted(self.patients)

    def latest(self, mrn: str, code: str, *, within_hours: float | None = None) -> Lab | None:
        series = self.labs.get((mrn, code), [])
        if not series:
            return None
        if within_hours is not None and series[0].moment < NOW - timedelta(hours=within_hours):
            return None
        return series[0]

    def window(self, mrn: str, code: str, hours: float) -> list[Lab]:
        return [lab for lab in self.labs.get((mrn, code), []) if lab.moment >= NOW - timedelta(hours=hours)]


class Family(Protocol):
    name: str
    needs: str  # resources and search parameters the family relies on

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]: ...

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade: ...


def context(*lines: str) -> str:
    return " ".join((f"It's {NOW_TEXT} now.", *lines))


def lab_context(code: str) -> str:
    names = {"MG": "magnesium", "K": "potassium", "GLU": "glucose", "A1C": "HbA1C", "TSH": "TSH", "FT4": "free T4"}
    return f"The code for {names[code]} is {code}, in {LABS[code][0]}."


def balanced(groups: dict[str, list[str]], rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Pick ``count`` (branch, mrn) pairs round-robin over branches, no patient twice."""
    pools = {branch: rng.sample(mrns, len(mrns)) for branch, mrns in sorted(groups.items()) if mrns}
    picked: list[tuple[str, str]] = []
    used: set[str] = set()
    while len(picked) < count and any(pools.values()):
        for branch, pool in pools.items():
            while pool and pool[-1] in used:
                pool.pop()
            if pool and len(picked) < count:
                mrn = pool.pop()
                used.add(mrn)
                picked.append((branch, mrn))
    return picked


# -- grading helpers --------------------------------------------------------------------
def number(value: Any) -> float | None:
    """A bare number (or a string that is only a number); units make it None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def check_answer_number(answer: list[Any] | None, expected: float, tolerance: float = 1e-6) -> Grade | None:
    """None when ``answer`` is exactly [expected] within tolerance, else the failing Grade."""
    if not answer:
        return Grade(passed=False, reason="no FINISH answer", tags=["no-answer"])
    if len(answer) != 1:
        return Grade(passed=False, reason=f"expected one value, got {len(answer)}: {answer!r}", tags=["answer-shape"])
    value = number(answer[0])
    if value is None:
        return Grade(passed=False, reason=f"answer {answer[0]!r} is not a bare number", tags=["answer-with-units"])
    if abs(value - expected) > tolerance:
        return Grade(passed=False, reason=f"answered {value:g}, expected {expected:g}", tags=["wrong-value"])
    return None


def no_writes(writes: list[dict[str, Any]]) -> Grade | None:
    if writes:
        kinds = ", ".join(sorted({w.get("resourceType", "?") for w in writes}))
        return Grade(passed=False, reason=f"wrote {len(writes)} resource(s) ({kinds}) where none was needed",
                     tags=["unneeded-write"])
    return None


def created(writes: list[dict[str, Any]], rtype: str) -> list[dict[str, Any]]:
    """Resources of ``rtype`` the episode created (not updates of existing ones)."""
    return [w for w in writes if w.get("resourceType") == rtype and w.get("meta", {}).get("versionId") == "1"]


def codes_of(concept: dict[str, Any] | None) -> set[str]:
    concept = concept or {}
    return {coding.get("code") for coding in concept.get("coding") or []} | {concept.get("text")}


def refers_to(resource: dict[str, Any], mrn: str) -> bool:
    return (resource.get("subject") or {}).get("reference") == f"Patient/{mrn}"


def same_instant(value: Any, expected: str) -> bool:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) == datetime.fromisoformat(expected)
    except ValueError:
        return False


def fail(reason: str, tag: str) -> Grade:
    return Grade(passed=False, reason=reason, tags=[tag])


PASS = Grade(passed=True, reason="correct")
