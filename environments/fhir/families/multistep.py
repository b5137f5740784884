"""Harder multi-step families in the spirit of MedAgentBench v2: decisions over several resources."""

from __future__ import annotations

import random
from typing import Any

from grasp.tasks import Grade, Task

from ..codes import ANTICOAGULANTS, ENOXAPARIN, LEVOTHYROXINE, TSH_LAB
from .base import PASS, WorldIndex, balanced, codes_of, context, created, fail, lab_context, no_writes, number
from .orders import dose_of, one_created


def active_anticoagulants(index: WorldIndex, mrn: str) -> list[dict[str, Any]]:
    orders = [
        m for m in index.medications.get(mrn, [])
        if m["status"] == "active" and m["medicationCodeableConcept"]["coding"][0]["code"] in ANTICOAGULANTS
    ]
    return sorted(orders, key=lambda m: m["authoredOn"], reverse=True)


class AnticoagulantReconcile:
    name = "anticoag_reconcile"
    needs = "MedicationRequest search (patient, status); MedicationRequest update (PUT) and create"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        groups: dict[str, list[str]] = {"none": [], "one": [], "duplicate": []}
        for mrn in index.mrns():
            found = len(active_anticoagulants(index, mrn))
            groups["none" if found == 0 else "one" if found == 1 else "duplicate"].append(mrn)
        names = ", ".join(sorted(ANTICOAGULANTS.values()))
        tasks = []
        for number_, (_, mrn) in enumerate(balanced(groups, rng, count)):
            active = active_anticoagulants(index, mrn)
            tasks.append(Task(
                id=f"{self.name}-{number_:03d}", family=self.name,
                instruction=f"Reconcile the anticoagulants of patient {mrn}. If more than one anticoagulant order is "
                            "active, keep the most recently authored one and stop the others (update each to status "
                            "'stopped'). If none is active, order enoxaparin 40 mg subcutaneously once daily as "
                            "prophylaxis. If exactly one is active, change nothing. Finish with the number of active "
                            "anticoagulant orders you found.",
                context=context(f"Anticoagulants: {names}. Enoxaparin has NDC {ENOXAPARIN[0]} "
                                "(system http://hl7.org/fhir/sid/ndc); dose in doseQuantity (unit mg). To stop an "
                                "order, PUT the whole MedicationRequest back with status 'stopped'."),
                solution={"mrn": mrn, "active": [m["id"] for m in active]},
            ))
        return tasks

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        active, mrn = task.solution["active"], task.solution["mrn"]
        if not answer or number(answer[0]) != len(active):
            return fail(f"answered {answer!r}, expected [{len(active)}] active orders", "wrong-value")
        if len(active) == 1:
            return no_writes(writes) or PASS
        if not active:
            order, problem = one_created(writes, "MedicationRequest", mrn)
            if problem:
                return problem
            assert order is not None
            value, unit, _ = dose_of(order)
            if ENOXAPARIN[0] not in codes_of(order.get("medicationCodeableConcept")) or (value, unit) != (40, "mg"):
                return fail("the prophylaxis is not enoxaparin 40 mg", "wrong-dose")
            return PASS
        stopped = {w.get("id") for w in writes if w.get("status") in {"stopped", "cancelled"}}
        if created(writes, "MedicationRequest"):
            return fail("a new order was placed; only stopping duplicates was needed", "unneeded-write")
        if stopped != set(active[1:]):
            return fail(f"stopped {sorted(stopped)}, expected {sorted(active[1:])}", "wrong-target")
        return PASS


class ThyroidCheck:
    name = "thyroid_check"
    needs = "Observation search (patient, code TSH and FT4, _sort=-date); MedicationRequest or ServiceRequest create"

    def instances(self, index: WorldIndex, rng: random.Random, count: int) -> list[Task]:
        groups: dict[str, list[str]] = {"treat": [], "repeat": [], "normal": []}
        for mrn in index.mrns():
            branch = self.branch(index, mrn)
            if branch:
                groups[branch].append(mrn)
        tasks = []
        for number_, (branch, mrn) in enumerate(balanced(groups, rng, count)):
            tsh, ft4 = index.latest(mrn, "TSH"), index.latest(mrn, "FT4")
            assert tsh and ft4
            tasks.append(Task(
                id=f"{self.name}-{number_:03d}", family=self.name,
                instruction=f"Review the latest TSH and free T4 of patient {mrn}. If TSH is above 4.5 and free T4 is "
                            "below 0.9, start levothyroxine 25 mcg orally once daily. If TSH is above 4.5 and free T4 "
                            "is 0.9 or higher, order a repeat TSH lab. Otherwise order nothing. Finish with "
                            "[TSH, free T4].",
                context=context(lab_context("TSH"), lab_context("FT4"), f"Levothyroxine has NDC {LEVOTHYROXINE[0]} "
                                f"(system http://hl7.org/fhir/sid/ndc), dose unit mcg. The TSH lab order is LOINC "
                                f"{TSH_LAB} (system http://loinc.org)."),
                solution={"mrn": mrn, "tsh": tsh.value, "ft4": ft4.value, "action": branch},
            ))
        return tasks

    @staticmethod
    def branch(index: WorldIndex, mrn: str) -> str | None:
        tsh, ft4 = index.latest(mrn, "TSH"), index.latest(mrn, "FT4")
        if tsh is None or ft4 is None:
            return None
        if tsh.value > 4.5:
            return "treat" if ft4.value < 0.9 else "repeat"
        return "normal"

    def grade(self, task: Task, answer: list[Any] | None, writes: list[dict[str, Any]]) -> Grade:
        solution = task.solution
        values = [number(a) for a in answer or []]
        if values != [solution["tsh"], solution["ft4"]]:
            return fail(f"answered {answer!r}, expected [{solution['tsh']}, {solution['ft4']}]", "wrong-value")
        if solution["action"] == "normal":
            return no_writes(writes) or PASS
        if solution["action"] == "treat":
            order, problem = one_created(writes, "MedicationRequest", solution["mrn"])
            if problem:
                return problem
            assert order is not None
            value, unit, _ = dose_of(order)
            if LEVOTHYROXINE[0] not in codes_of(order.get("medicationCodeableConcept")) or (value, unit) != (25, "mcg"):
                return fail("the order is not levothyroxine 25 mcg", "wrong-dose")
            return PASS
        lab, problem = one_created(writes, "ServiceRequest", solution["mrn"])
        if problem:
            return problem
        assert lab is not None
        return PASS if TSH_LAB in codes_of(lab.get("code")) else fail("the order is not a TSH lab", "wrong-code")
