"""Families that write: record a vital sign, place referrals, replace electrolytes, re-order labs.

Graders read the resources the episode created on the server; orders must be
valid FHIR R4 (the server refused anything else already).
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from grasp.tasks import Grade, Task

from ..codes import A1C_LAB, MAGNESIUM_IV, NOW, NOW_TEXT, ORTHO_REFERRAL, POTASSIUM_LAB, POTASSIUM_ORAL
from .base import (
    PASS,
    WorldIndex,
    balanced,
    check_answer_number,
    codes_of,
    context,
    created,
    fail,
    lab_context,
    no_writes,
    number,
    refers_to,
    same_instant,
)

NOTES = [
    "Worsening right knee pain despite six weeks of physiotherapy; please assess for arthroscopy.",
    "Left hip pain at night, imaging shows moderate osteoarthritis; evaluate for surgical options.",
    "Recurrent shoulder dislocation after a fall; requests surgical opinion.",
    "Suspected meniscal tear after a sports injury, locking of the knee on flexion.",
]
NEXT_MORNING = (NOW + timedelta(days=1)).replace(hour=8, minute=0).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def one_created(writes: list[dict[str, Any]], rtype: str, mrn: str) -> tuple[dict[str, Any] | None, Grade | None]:
    mine = created(writes, rtype)
    if not mine:
        return None, fail(f"no {rtype} was created", "missing-order")
    if len(mine) > 1:
        return None, fail(f"{len(mine)} {rtype} resources were created; expected one", "duplicate-order")
    if not refers_to(mine[0], mrn):
        return None, fail(f"the {rtype} is for {mine[0].get('subject')}, not Patient/{mrn}", "wrong-patient")
    return mine[0], None


def dose_of(order: dict[str, Any]) -> tuple[float | None, str | None, dict[str, Any]]:
    dosage = (order.get("dosageInstruction") or [{}])[0]
    dose_and_rate = (dosage.get("doseAndRate") or [{}])[0]
    dose = dose_and_rate.get("doseQuantity") or {}
    return number(dose.get("value")), dose.get("unit"), dose_and_rate


class RecordVital:
    name = "record_bp"
    needs = "Observation create (vital-signs category, code BP, valueString)"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        tasks = []
        for number_, mrn in enumerate(rng.sample(index.mrns(), min(count, len(index.mrns())))):
            reading = f"{rng.randint(100, 160)}/{rng.randint(60, 95)} mmHg"
            tasks.append(Task(
                id=f"{self.name}-{number_:03d}", family=self.name,
                instruction=f"I just measured the blood pressure of patient {mrn}: {reading}. Record it in the chart.",
                context=context("Blood pressure is a vital sign: category 'vital-signs' "
                                "(system http://terminology.hl7.org/CodeSystem/observation-category), code text 'BP', "
                                "status 'final', effective now, value as a string like '120/80 mmHg'."),
                solution={"mrn": mrn, "value": reading},
            ))
        return tasks

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        obs, problem = one_created(writes, "Observation", task.solution["mrn"])
        if problem:
            return problem
        assert obs is not None
        categories = {c.get("code") for cat in obs.get("category") or [] for c in cat.get("coding") or []}
        checks = [
            ("vital-signs" in categories, "category is not vital-signs", "wrong-category"),
            ("BP" in codes_of(obs.get("code")), "code is not BP", "wrong-code"),
            (obs.get("status") == "final", f"status {obs.get('status')!r} is not final", "wrong-status"),
            (same_instant(obs.get("effectiveDateTime"), NOW_TEXT), "effectiveDateTime is not now", "wrong-time"),
            (obs.get("valueString") == task.solution["value"],
             f"value {obs.get('valueString')!r} is not {task.solution['value']!r}", "wrong-value"),
        ]
        for ok, reason, tag in checks:
            if not ok:
                return fail(reason, tag)
        return PASS


class OrthoReferral:
    name = "ortho_referral"
    needs = "ServiceRequest create (SNOMED code, priority, note)"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        tasks = []
        for number_, mrn in enumerate(rng.sample(index.mrns(), min(count, len(index.mrns())))):
            note = rng.choice(NOTES)
            tasks.append(Task(
                id=f"{self.name}-{number_:03d}", family=self.name,
                instruction=f"Refer patient {mrn} to orthopedic surgery, urgently (stat). Put this free text in the "
                            f"referral's note: \"{note}\"",
                context=context(f"The SNOMED code (system http://snomed.info/sct) for a referral to orthopedic "
                                f"surgery is {ORTHO_REFERRAL}."),
                solution={"mrn": mrn, "note": note},
            ))
        return tasks

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        order, problem = one_created(writes, "ServiceRequest", task.solution["mrn"])
        if problem:
            return problem
        assert order is not None
        notes = [n.get("text", "") for n in order.get("note") or []]
        if ORTHO_REFERRAL not in codes_of(order.get("code")):
            return fail("the referral does not carry the orthopedic surgery code", "wrong-code")
        if order.get("priority") != "stat":
            return fail(f"priority {order.get('priority')!r} is not stat", "wrong-priority")
        if not any(task.solution["note"].strip() == note.strip() for note in notes):
            return fail("the note does not hold the requested free text", "wrong-note")
        return PASS


class MagnesiumReplacement:
    name = "mg_replacement"
    needs = "Observation search (patient, code MG, date window, _sort=-date); MedicationRequest create"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        groups: dict[str, list[str]] = {"severe": [], "moderate": [], "mild": [], "normal": [], "none": []}
        for mrn in index.mrns():
            groups[_mg_branch(index, mrn)].append(mrn)
        tasks = []
        for number_, (branch, mrn) in enumerate(balanced(groups, rng, count)):
            latest = index.latest(mrn, "MG", within_hours=24)
            dose = {"severe": 4, "moderate": 2, "mild": 1}.get(branch)
            tasks.append(Task(
                id=f"{self.name}-{number_:03d}", family=self.name,
                instruction=f"Check the magnesium level of patient {mrn} from the last 24 hours. If it is low, order IV "
                            "magnesium sulfate replacement: below 1.0 give 4 g over 4 hours, from 1.0 to below 1.5 "
                            "give 2 g over 2 hours, from 1.5 to below 1.9 give 1 g over 1 hour. If there is no result "
                            "in the last 24 hours, or it is 1.9 or higher, order nothing. Then finish.",
                context=context(lab_context("MG"), f"IV magnesium sulfate has NDC {MAGNESIUM_IV[0]} "
                                "(system http://hl7.org/fhir/sid/ndc). Put the dose in doseQuantity (unit g) and the "
                                "rate in rateQuantity (unit h) of dosageInstruction[0].doseAndRate[0]."),
                solution={"mrn": mrn, "level": latest.value if latest else None, "dose_g": dose},
            ))
        return tasks

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        dose = task.solution["dose_g"]
        if dose is None:
            return no_writes(writes) or PASS
        order, problem = one_created(writes, "MedicationRequest", task.solution["mrn"])
        if problem:
            return problem
        assert order is not None
        if MAGNESIUM_IV[0] not in codes_of(order.get("medicationCodeableConcept")):
            return fail("the order is not for IV magnesium sulfate (wrong NDC)", "wrong-code")
        value, unit, dose_and_rate = dose_of(order)
        if value != dose or unit != "g":
            return fail(f"dose {value} {unit}, expected {dose} g", "wrong-dose")
        rate = dose_and_rate.get("rateQuantity") or {}
        if number(rate.get("value")) != dose or rate.get("unit") != "h":
            return fail(f"rate {rate.get('value')} {rate.get('unit')}, expected {dose} h", "wrong-rate")
        return PASS


def _mg_branch(index: WorldIndex, mrn: str) -> str:
    latest = index.latest(mrn, "MG", within_hours=24)
    if latest is None:
        return "none"
    if latest.value < 1.0:
        return "severe"
    if latest.value < 1.5:
        return "moderate"
    return "mild" if latest.value < 1.9 else "normal"


class PotassiumReplacement:
    name = "k_replacement"
    needs = "Observation search (patient, code K, _sort=-date); MedicationRequest and ServiceRequest create"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        groups: dict[str, list[str]] = {"low": [], "normal": []}
        for mrn in index.mrns():
            latest = index.latest(mrn, "K")
            if latest is not None:
                groups["low" if latest.value < 3.5 else "normal"].append(mrn)
        tasks = []
        for number_, (branch, mrn) in enumerate(balanced(groups, rng, count)):
            latest = index.latest(mrn, "K")
            assert latest is not None
            dose = round((3.5 - latest.value) / 0.1) * 10 if branch == "low" else None
            tasks.append(Task(
                id=f"{self.name}-{number_:03d}", family=self.name,
                instruction=f"Check the most recent potassium level of patient {mrn}. If it is below 3.5, order oral "
                            "potassium chloride, 10 mEq for every 0.1 below 3.5, and order a repeat potassium lab for "
                            "tomorrow at 08:00. If it is 3.5 or higher, order nothing. Then finish.",
                context=context(lab_context("K"), f"Oral potassium chloride has NDC {POTASSIUM_ORAL[0]} "
                                f"(system http://hl7.org/fhir/sid/ndc); dose in doseQuantity (unit mEq). The potassium "
                                f"lab order is LOINC {POTASSIUM_LAB} (system http://loinc.org), with its time in "
                                "occurrenceDateTime."),
                solution={"mrn": mrn, "level": latest.value, "dose_meq": dose},
            ))
        return tasks

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        dose, mrn = task.solution["dose_meq"], task.solution["mrn"]
        if dose is None:
            return no_writes(writes) or PASS
        order, problem = one_created(writes, "MedicationRequest", mrn)
        if problem:
            return problem
        assert order is not None
        if POTASSIUM_ORAL[0] not in codes_of(order.get("medicationCodeableConcept")):
            return fail("the order is not for oral potassium chloride (wrong NDC)", "wrong-code")
        value, unit, _ = dose_of(order)
        if value != dose or unit != "mEq":
            return fail(f"dose {value} {unit}, expected {dose} mEq", "wrong-dose")
        lab, problem = one_created(writes, "ServiceRequest", mrn)
        if problem:
            return problem
        assert lab is not None
        if POTASSIUM_LAB not in codes_of(lab.get("code")):
            return fail("the follow-up lab is not a potassium test", "wrong-code")
        next_morning = task.solution.get("next_morning", NEXT_MORNING)
        if not same_instant(lab.get("occurrenceDateTime"), next_morning):
            return fail(f"follow-up lab at {lab.get('occurrenceDateTime')!r}, expected {next_morning}", "wrong-time")
        return PASS


class A1cCheck:
    name = "a1c_check"
    needs = "Observation search (patient, code A1C, _sort=-date); ServiceRequest create"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        groups: dict[str, list[str]] = {"recent": [], "stale": [], "none": []}
        for mrn in index.mrns():
            latest = index.latest(mrn, "A1C")
            branch = "none" if latest is None else "recent" if latest.moment > NOW - timedelta(days=365) else "stale"
            groups[branch].append(mrn)
        tasks = []
        for number_, (branch, mrn) in enumerate(balanced(groups, rng, count)):
            latest = index.latest(mrn, "A1C")
            tasks.append(Task(
                id=f"{self.name}-{number_:03d}", family=self.name,
                instruction=f"What is the last HbA1C value of patient {mrn} and when was it taken? Finish with "
                            "[value, \"date-time\"], or [-1] if there is none. If there is none, or it is more than "
                            "one year old, also order a new HbA1C lab.",
                context=context(lab_context("A1C"), f"The HbA1C lab order is LOINC {A1C_LAB} "
                                "(system http://loinc.org)."),
                solution={"mrn": mrn, "value": latest.value if latest else None,
                          "date": latest.stamp if latest else None, "order": branch != "recent"},
            ))
        return tasks

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        solution = task.solution
        if solution["value"] is None:
            if problem := check_answer_number(answer, -1):
                return problem
        else:
            if not answer or len(answer) != 2:
                return fail(f"expected [value, date], got {answer!r}", "answer-shape")
            if problem := check_answer_number(answer[:1], solution["value"]):
                return problem
            if not same_instant(answer[1], solution["date"]):
                return fail(f"date {answer[1]!r} is not {solution['date']}", "wrong-date")
        if not solution["order"]:
            return no_writes(writes) or PASS
        order, problem = one_created(writes, "ServiceRequest", solution["mrn"])
        if problem:
            return problem
        assert order is not None
        if A1C_LAB not in codes_of(order.get("code")):
            return fail("the order is not an HbA1C lab", "wrong-code")
        return PASS
