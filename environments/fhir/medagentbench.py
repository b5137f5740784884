"""MedAgentBench task files against an external MedAgentBench FHIR server.

A task file is a JSON list of records ``{id: "taskN_k", instruction, context, sol?, eval_MRN?}``.
Grading follows MedAgentBench's semantics: answers are compared with ``sol``
when the file has it, otherwise with a reference computed from the server at
grading time; POST payloads are read from the episode (MedAgentBench never
sends them to the server, so a payload only has to parse and carry the
expected fields, not be valid FHIR).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from grasp.environment import Session, Step
from grasp.errors import ValidationError
from grasp.tasks import Grade, Task
from probes.manifest import Manifest

from .environment import FhirEnvironment, FhirSession, ignored_note
from .families import FAMILIES
from .protocol import Action, parse_action
from .variables import NOW_STATED, with_variables

LAB_WINDOWS = {"task4": ("MG", 24), "task6": ("GLU", 24), "task7": ("GLU", None)}
# MedAgentBench kinds graded by our family graders, against a solution computed from the server.
REFERENCE_FAMILIES = {"task2": "patient_age", "task4": "latest_mg_24h", "task5": "mg_replacement",
                      "task6": "avg_glucose_24h", "task7": "latest_glucose", "task9": "k_replacement",
                      "task10": "a1c_check"}
# What doing nothing answers, per MedAgentBench kind, in its own words: "Patient not found" (task1), -1 when
# no measurement is available (tasks 4, 6, 7; task10 says "[-1]"), and no answer and no write for the write
# kinds (3, 5, 8, 9), where a passing "do nothing" is the branch in which no order is due.
NONE_ANSWERS: dict[str, list[Any]] = {"task1": ["Patient not found"], "task4": [-1], "task6": [-1],
                                      "task7": [-1], "task10": [-1]}


def load_medagentbench(path: Path) -> list[Task]:
    """Read a MedAgentBench task file into Tasks (family ``mab_taskN``); errors name the record."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValidationError(f"{path}: not a readable JSON task file ({error})") from None
    if not isinstance(records, list):
        raise ValidationError(f"{path}: expected a JSON list of task records")
    tasks = []
    for index, record in enumerate(records):
        if not isinstance(record, dict) or not {"id", "instruction"} <= set(record):
            raise ValidationError(f"{path}: record {index} needs at least 'id' and 'instruction'")
        kind = str(record["id"]).split("_")[0]
        tasks.append(Task(
            id=str(record["id"]), family=f"mab_{kind}", instruction=str(record["instruction"]),
            context=str(record.get("context", "")),
            solution={"sol": record.get("sol"), "mrn": record.get("eval_MRN"), "kind": kind},
        ))
    return tasks


def task_now(task: Task) -> datetime:
    """The task's own clock; a task graded against the server must state it."""
    match = NOW_STATED.search(task.context)
    if not match:
        raise ValidationError(f"task {task.id}: its context states no 'It's <time> now.'")
    return datetime.fromisoformat(match["now"].replace("Z", "+00:00"))


async def _labs(client: httpx.AsyncClient, mrn: str, code: str) -> list[tuple[datetime, float, str]]:
    """(time, value, stamp) of every result, newest first, read from the server."""
    response = await client.get("Observation", params={"patient": mrn, "code": code, "_count": 5000})
    labs = []
    for entry in response.json().get("entry", []):
        resource = entry["resource"]
        stamp = resource["effectiveDateTime"]
        labs.append((datetime.fromisoformat(stamp.replace("Z", "+00:00")), resource["valueQuantity"]["value"], stamp))
    return sorted(labs, reverse=True)


async def reference_solution(client: httpx.AsyncClient, task: Task) -> dict[str, Any] | None:
    """The solution our family graders expect, computed from the server at grading time (MedAgentBench's
    reference solutions are computed the same way), for the kinds that need server data."""
    kind, mrn = task.solution["kind"], task.solution["mrn"]
    if kind not in REFERENCE_FAMILIES or not mrn:
        return None
    now = task_now(task)
    if kind == "task2":
        birth = datetime.fromisoformat((await client.get(f"Patient/{mrn}")).json()["birthDate"])
        return {"mrn": mrn, "expected": now.year - birth.year - ((now.month, now.day) < (birth.month, birth.day))}
    code = {"task4": "MG", "task5": "MG", "task6": "GLU", "task7": "GLU", "task9": "K", "task10": "A1C"}[kind]
    labs = await _labs(client, mrn, code)
    recent = [lab for lab in labs if lab[0] >= now - timedelta(hours=24)]
    if kind == "task4":
        return {"mrn": mrn, "expected": recent[0][1] if recent else -1}
    if kind == "task6":
        return {"mrn": mrn, "expected": sum(v for _, v, _ in recent) / len(recent) if recent else -1}
    if kind == "task7":
        return {"mrn": mrn, "expected": labs[0][1] if labs else -1}
    if kind == "task5":
        level = recent[0][1] if recent else None
        dose = None if level is None or level >= 1.9 else 4 if level < 1.0 else 2 if level < 1.5 else 1
        return {"mrn": mrn, "level": level, "dose_g": dose}
    if kind == "task9":
        level = labs[0][1] if labs else None
        dose = round((3.5 - level) / 0.1) * 10 if level is not None and level < 3.5 else None
        morning = (now + timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
        return {"mrn": mrn, "level": level, "dose_meq": dose, "next_morning": morning.isoformat()}
    latest = labs[0] if labs else None
    return {"mrn": mrn, "value": latest[1] if latest else None, "date": latest[2] if latest else None,
            "order": latest is None or latest[0] < now - timedelta(days=365)}


async def reference_answer(client: httpx.AsyncClient, task: Task) -> list[Any] | None:
    """The expected FINISH list for the lab-value kinds (4, 6, 7), from the server."""
    if task.solution["kind"] not in LAB_WINDOWS:
        return None
    solution = await reference_solution(client, task)
    return None if solution is None else [solution["expected"]]


def grade_medagentbench(task: Task, answer: list[Any] | None, posts: list[dict[str, Any]],
                        reference: list[Any] | None) -> Grade:
    """Compare with ``sol`` (or the server reference); write kinds check the episode's POST payloads."""
    kind = task.solution["kind"]
    expected = task.solution["sol"] if task.solution["sol"] is not None else reference
    if kind in {"task3", "task8"}:
        wanted = "Observation" if kind == "task3" else "ServiceRequest"
        mine = [p for p in posts if p.get("resourceType") == wanted]
        if len(mine) != 1:
            return Grade(passed=False, reason=f"expected one {wanted} POST, got {len(mine)}", tags=["missing-order"])
        subject = (mine[0].get("subject") or {}).get("reference")
        if subject != f"Patient/{task.solution['mrn']}":
            return Grade(passed=False, reason=f"POST for {subject}", tags=["wrong-patient"])
        return Grade(passed=True, reason="payload matches")
    if expected is None:
        return Grade(passed=False, reason=f"no sol in the task file and no server reference for {kind}",
                     tags=["ungradable"])
    if answer is None or len(answer) != len(expected):
        return Grade(passed=False, reason=f"answered {answer!r}, expected {expected!r}", tags=["answer-shape"])
    for got, want in zip(answer, expected, strict=True):
        if isinstance(want, (int, float)) and not isinstance(want, bool):
            try:
                if abs(float(got) - float(want)) > (0.1 if kind == "task6" else 1e-6):
                    return Grade(passed=False, reason=f"answered {got!r}, expected {want!r}", tags=["wrong-value"])
            except (TypeError, ValueError):
                return Grade(passed=False, reason=f"answer {got!r} is not a bare number", tags=["answer-with-units"])
        elif str(got) != str(want):
            return Grade(passed=False, reason=f"answered {got!r}, expected {want!r}", tags=["wrong-value"])
    return Grade(passed=True, reason="correct")



class MedAgentBenchSession(FhirSession):
    """GETs go to the server; POSTs are checked for JSON and recorded but never sent."""

    async def step(self, reply: str) -> Step:
        parsed = parse_action(reply)
        if isinstance(parsed, Action) and parsed.kind in {"POST", "PUT"}:
            self.posted.append(parsed.body or {})
            return Step(observation="POST request accepted and executed successfully." + ignored_note(parsed),
                        action=f"{parsed.kind} {parsed.url}")
        return await super().step(reply)

    async def grade(self, answer: list[Any] | None) -> Grade:
        kind = self.task.solution["kind"]
        if self.task.solution["sol"] is None and kind in REFERENCE_FAMILIES:
            solution = await reference_solution(self.env.client(), self.task)
            if solution is not None:
                graded = self.task.model_copy(update={"solution": solution})
                writes = [{**post, "meta": {"versionId": "1"}} for post in self.posted]  # as if created
                return FAMILIES[REFERENCE_FAMILIES[kind]].grade(graded, answer, writes)
        reference = await reference_answer(self.env.client(), self.task)
        return grade_medagentbench(self.task, answer, self.posted, reference)

    async def close(self) -> None:
        """Nothing was written to the server."""


def seeded_splits(tasks: list[Task], fractions: tuple[float, float] = (0.5, 0.2)) -> dict[str, list[Task]]:
    """dev / val / test from one task file: within each task type, tasks ordered by a hash of their id
    (stable whatever the file order) give the first half to dev, the next fifth to val, the rest to test."""
    splits: dict[str, list[Task]] = {"dev": [], "val": [], "test": []}
    by_family: dict[str, list[Task]] = {}
    for task in tasks:
        by_family.setdefault(task.family, []).append(task)
    for family in sorted(by_family):
        ordered = sorted(by_family[family], key=lambda task: hashlib.sha256(task.id.encode()).hexdigest())
        dev, val = int(len(ordered) * fractions[0]), int(len(ordered) * (fractions[0] + fractions[1]))
        splits["dev"] += ordered[:dev]
        splits["val"] += ordered[dev:val]
        splits["test"] += ordered[val:]
    return splits


class MedAgentBenchEnvironment(FhirEnvironment):
    """A MedAgentBench task file (split ``all``) run against its own FHIR server at ``base_url``."""

    name = "medagentbench"

    def __init__(self, task_file: Path, base_url: str, **options: Any) -> None:
        self.task_file = Path(task_file)
        tasks = load_medagentbench(self.task_file)
        self._all = tasks
        super().__init__(manifest=Manifest(environment="medagentbench", splits=seeded_splits(tasks)),
                         base_url=base_url, **options)

    def tasks(self, split: str) -> list[Task]:
        """``all`` is the whole file (what ``grasp eval`` reads); dev / val / test are drawn from it."""
        return [self.prescribed(task) for task in self._all] if split == "all" else super().tasks(split)

    def manifest_hash(self) -> str:
        return hashlib.sha256(self.task_file.read_bytes()).hexdigest()

    def trivial_answer(self, task: Task) -> list[Any] | None:
        """MedAgentBench's no-result answer for the task's kind (``NONE_ANSWERS``); an empty answer otherwise."""
        return list(NONE_ANSWERS.get(task.solution["kind"], []))

    def stratum(self, task: Task) -> str:
        """"none" when the trivial answer is the file's ``sol``, "value" when ``sol`` is something else, and
        "unlabelled" when the file has no ``sol``: then the answer is computed from the server at grading
        time, and a label read from the server here would have to be taken before any episode runs."""
        if task.solution["sol"] is None:
            return "unlabelled"
        trivial = grade_medagentbench(task, self.trivial_answer(task), [], None)
        return "none" if trivial.passed else "value"

    async def open(self, task: Task) -> Session:
        return MedAgentBenchSession(self, task)
