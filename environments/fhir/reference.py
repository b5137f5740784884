"""Reference solutions: the actions a perfect agent would send for a task.

Built from the task's solution, they check the graders (a correct solution
must pass) and drive scripted models in tests and benchmarks. They are not a
model and never stand in for one in a reported result.
"""

from __future__ import annotations

import json
from typing import Any

from grasp.tasks import Task

from .codes import A1C_LAB, ENOXAPARIN, LEVOTHYROXINE, MAGNESIUM_IV, NOW_TEXT, ORTHO_REFERRAL, POTASSIUM_LAB, POTASSIUM_ORAL, TSH_LAB
from .families.orders import NEXT_MORNING

NDC = "http://hl7.org/fhir/sid/ndc"


def medication(mrn: str, ndc: str, dose: float, unit: str, *, rate_h: float | None = None) -> dict[str, Any]:
    dose_and_rate: dict[str, Any] = {"doseQuantity": {"value": dose, "unit": unit}}
    if rate_h is not None:
        dose_and_rate["rateQuantity"] = {"value": rate_h, "unit": "h"}
    return {
        "resourceType": "MedicationRequest", "status": "active", "intent": "order",
        "subject": {"reference": f"Patient/{mrn}"}, "authoredOn": NOW_TEXT,
        "medicationCodeableConcept": {"coding": [{"system": NDC, "code": ndc}]},
        "dosageInstruction": [{"doseAndRate": [dose_and_rate]}],
    }


def service(mrn: str, system: str, code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest", "status": "active", "intent": "order",
        "subject": {"reference": f"Patient/{mrn}"}, "authoredOn": NOW_TEXT,
        "code": {"coding": [{"system": system, "code": code}]}, **extra,
    }


def post(rtype: str, body: dict[str, Any]) -> str:
    return f"POST {rtype}\n{json.dumps(body)}"


def reference_actions(task: Task) -> list[str]:
    """Correct actions for ``task`` (relative URLs), ending with FINISH."""
    s = task.solution
    mrn = s.get("mrn")
    family = task.family
    actions: list[str] = []
    answer: list[Any] = []
    if family == "patient_lookup":
        answer = [s["expected"]]
    elif family in {"patient_age", "latest_mg_24h", "avg_glucose_24h", "latest_glucose"}:
        answer = [s["expected"]]
    elif family == "record_bp":
        actions.append(post("Observation", {
            "resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"text": "BP"}, "subject": {"reference": f"Patient/{mrn}"},
            "effectiveDateTime": NOW_TEXT, "valueString": s["value"],
        }))
    elif family == "ortho_referral":
        actions.append(post("ServiceRequest", service(mrn, "http://snomed.info/sct", ORTHO_REFERRAL, priority="stat",
                                                      note=[{"text": s["note"]}])))
    elif family == "mg_replacement" and s["dose_g"]:
        actions.append(post("MedicationRequest", medication(mrn, MAGNESIUM_IV[0], s["dose_g"], "g", rate_h=s["dose_g"])))
    elif family == "k_replacement" and s["dose_meq"]:
        actions.append(post("MedicationRequest", medication(mrn, POTASSIUM_ORAL[0], s["dose_meq"], "mEq")))
        actions.append(post("ServiceRequest", service(mrn, "http://loinc.org", POTASSIUM_LAB,
                                                      occurrenceDateTime=NEXT_MORNING)))
    elif family == "a1c_check":
        answer = [s["value"], s["date"]] if s["value"] is not None else [-1]
        if s["order"]:
            actions.append(post("ServiceRequest", service(mrn, "http://loinc.org", A1C_LAB)))
    elif family == "anticoag_reconcile":
        answer = [len(s["active"])]
        if not s["active"]:
            actions.append(post("MedicationRequest", medication(mrn, ENOXAPARIN[0], 40, "mg")))
        for rid in s["active"][1:]:
            actions.append(f"STOP {rid}")  # resolved by the caller: needs the current resource
    elif family == "thyroid_check":
        answer = [s["tsh"], s["ft4"]]
        if s["action"] == "treat":
            actions.append(post("MedicationRequest", medication(mrn, LEVOTHYROXINE[0], 25, "mcg")))
        elif s["action"] == "repeat":
            actions.append(post("ServiceRequest", service(mrn, "http://loinc.org", TSH_LAB)))
    actions.append(f"FINISH({json.dumps(answer)})")
    return actions


async def run_reference(session: Any, task: Task) -> list[Any] | None:
    """Play the reference actions in ``session``; returns the FINISH answer.

    ``STOP id`` is expanded into a GET of the order and a PUT of it with
    status 'stopped', as an agent would do it.
    """
    answer = None
    for action in reference_actions(task):
        if action.startswith("STOP "):
            rid = action.split()[1]
            step = await session.step(f"GET MedicationRequest/{rid}")
            order = json.loads(step.observation.split("\n", 1)[1])
            order["status"] = "stopped"
            action = f"PUT MedicationRequest/{rid}\n{json.dumps(order)}"
        step = await session.step(action)
        if step.done:
            answer = step.answer
    return answer
