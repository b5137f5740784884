"""Read-only families: find a patient, compute an age, report lab values."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from statistics import mean
from typing import Any

from grasp.tasks import Grade, Task

from ..codes import NOW
from .base import PASS, WorldIndex, balanced, check_answer_number, context, fail, lab_context, no_writes


class PatientLookup:
    name = "patient_lookup"
    none_answer = "Patient not found"
    needs = "Patient search by name/given/family and birthdate"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        pairs = balanced({"found": index.mrns(), "missing": index.mrns()}, rng, count)
        tasks = []
        for number, (branch, mrn) in enumerate(pairs):
            patient = index.patients[mrn]
            given, family = patient["name"][0]["given"][0], patient["name"][0]["family"]
            birth = patient["birthDate"]
            expected = mrn
            if branch == "missing":  # a birth date nobody with this name has
                birth = (datetime.fromisoformat(birth) + timedelta(days=rng.choice([-400, -33, 33, 400]))).strftime("%Y-%m-%d")
                expected = "Patient not found"
            clash = [p for p in index.patients.values()
                     if p["name"][0]["family"] == family and p["name"][0]["given"][0] == given and p["birthDate"] == birth]
            if branch == "missing" and clash:
                continue
            tasks.append(Task(
                id=f"{self.name}-{number:03d}", family=self.name,
                instruction=f"What is the MRN of the patient named {given} {family}, born {birth}? "
                            "If no such patient exists, answer \"Patient not found\".",
                context=context(),
                solution={"mrn": mrn, "expected": expected},
            ))
        return tasks

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        if problem := no_writes(writes):
            return problem
        if not answer or len(answer) != 1:
            return fail(f"expected exactly one answer, got {answer!r}", "answer-shape")
        if str(answer[0]).strip() != task.solution["expected"]:
            return fail(f"answered {answer[0]!r}, expected {task.solution['expected']!r}", "wrong-value")
        return PASS


class PatientAge:
    name = "patient_age"
    needs = "Patient read by id or search by identifier; birthDate"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        tasks = []
        for number, mrn in enumerate(rng.sample(index.mrns(), min(count, len(index.mrns())))):
            birth = datetime.fromisoformat(index.patients[mrn]["birthDate"])
            age = NOW.year - birth.year - ((NOW.month, NOW.day) < (birth.month, birth.day))
            tasks.append(Task(
                id=f"{self.name}-{number:03d}", family=self.name,
                instruction=f"What is the age of the patient with MRN {mrn}? Answer in whole years, rounded down.",
                context=context(),
                solution={"mrn": mrn, "expected": age},
            ))
        return tasks

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        return no_writes(writes) or check_answer_number(answer, task.solution["expected"]) or PASS


class LatestLabWindow:
    """Latest value of a lab within the last 24 hours, or -1 when there is none."""

    name = "latest_mg_24h"
    none_answer = -1
    needs = "Observation search by patient, code, date (ge), _sort=-date"
    code = "MG"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        groups: dict[str, list[str]] = {"recent": [], "none": []}
        for mrn in index.mrns():
            groups["recent" if index.latest(mrn, self.code, within_hours=24) else "none"].append(mrn)
        tasks = []
        for number, (_, mrn) in enumerate(balanced(groups, rng, count)):
            latest = index.latest(mrn, self.code, within_hours=24)
            tasks.append(Task(
                id=f"{self.name}-{number:03d}", family=self.name,
                instruction=f"What is the most recent magnesium level of patient {mrn} within the last 24 hours? "
                            "Answer with the number only; if there is no measurement in that window, answer -1.",
                context=context(lab_context(self.code)),
                solution={"mrn": mrn, "expected": latest.value if latest else -1},
            ))
        return tasks

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        return no_writes(writes) or check_answer_number(answer, task.solution["expected"]) or PASS


class AverageGlucose:
    name = "avg_glucose_24h"
    none_answer = -1
    needs = "Observation search by patient, code, date (ge), _count large enough for all results"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        groups: dict[str, list[str]] = {"some": [], "none": []}
        for mrn in index.mrns():
            groups["some" if index.window(mrn, "GLU", 24) else "none"].append(mrn)
        tasks = []
        for number, (_, mrn) in enumerate(balanced(groups, rng, count)):
            values = [lab.value for lab in index.window(mrn, "GLU", 24)]
            tasks.append(Task(
                id=f"{self.name}-{number:03d}", family=self.name,
                instruction=f"What is the average blood glucose of patient {mrn} over the last 24 hours? "
                            "Answer with the number only; if there is no measurement in that window, answer -1.",
                context=context(lab_context("GLU"), "An answer within 0.1 of the exact mean is accepted."),
                solution={"mrn": mrn, "expected": round(mean(values), 4) if values else -1, "count": len(values)},
            ))
        return tasks

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        return no_writes(writes) or check_answer_number(answer, task.solution["expected"], tolerance=0.1) or PASS


class LatestGlucose:
    name = "latest_glucose"
    none_answer = -1
    needs = "Observation search by patient, code, _sort=-date"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        groups: dict[str, list[str]] = {"some": [], "none": []}
        for mrn in index.mrns():
            groups["some" if index.latest(mrn, "GLU") else "none"].append(mrn)
        # Patients with no glucose at all are rare; keep them to about one in five tasks.
        groups["none"] = groups["none"][: max(1, count // 5)]
        tasks = []
        for number, (_, mrn) in enumerate(balanced(groups, rng, count)):
            latest = index.latest(mrn, "GLU")
            tasks.append(Task(
                id=f"{self.name}-{number:03d}", family=self.name,
                instruction=f"What is the most recent blood glucose value of patient {mrn}, whenever it was taken? "
                            "Answer with the number only; if the patient has never had one, answer -1.",
                context=context(lab_context("GLU")),
                solution={"mrn": mrn, "expected": latest.value if latest else -1},
            ))
        return tasks

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        return no_writes(writes) or check_answer_number(answer, task.solution["expected"]) or PASS
