"""A synthetic hospital, deterministic from a seed.

Each patient draws a *profile* (is a lab recent or stale, low or normal, or
missing) so that every branch of every task family occurs in a world of about
100 patients; the rest of the chart is realistic filler that agents must
search past (hundreds of older results per patient).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .codes import (
    ANTICOAGULANTS,
    ICD10,
    LABS,
    LOINC,
    MR_TYPE,
    MRN_SYSTEM,
    NDC,
    NOW,
    OBS_CATEGORY,
    OTHER_MEDICATIONS,
    SNOMED,
    UCUM,
)

WORLD_VERSION = 2  # 2: each chart stored oldest first (unsorted searches no longer return the latest result)
DEFAULT_SEED = 42
DEFAULT_PATIENTS = 100

GIVEN = [
    "Amara", "Bruno", "Celia", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kira", "Lionel",
    "Maren", "Nikhil", "Odette", "Pavel", "Quinn", "Rosa", "Soren", "Talia", "Umar", "Vera", "Wendell", "Ximena",
    "Yusuf", "Zora", "Anselm", "Beatrix", "Cormac", "Delphine", "Emeric", "Fiona", "Gideon", "Hester",
]
FAMILY = [
    "Abernathy", "Bellweather", "Castellano", "Drummond", "Eastwick", "Fairbanks", "Galloway", "Halvorsen",
    "Ingersoll", "Jablonski", "Kettering", "Lindqvist", "Montague", "Nakashima", "Okonkwo", "Pemberton",
    "Quintero", "Rasmussen", "Sandoval", "Thornbury", "Underhill", "Valentin", "Whitcombe", "Yarborough",
]
CITIES = [("Palo Alto", "CA", "94301"), ("Fremont", "CA", "94536"), ("Salem", "OR", "97301"), ("Tucson", "AZ", "85701")]
CONDITIONS = [
    ("E11.9", "Type 2 diabetes mellitus without complications"), ("I10", "Essential hypertension"),
    ("N18.3", "Chronic kidney disease, stage 3"), ("E78.5", "Hyperlipidemia"), ("J44.9", "Chronic obstructive pulmonary disease"),
    ("I48.91", "Atrial fibrillation"), ("E03.9", "Hypothyroidism"), ("M17.11", "Primary osteoarthritis, right knee"),
]
PROCEDURES = [
    ("73761001", "Colonoscopy"), ("399208008", "Chest X-ray"), ("40701008", "Echocardiography"),
    ("77477000", "CT of abdomen"), ("29303009", "Electrocardiographic procedure"), ("241615005", "MRI of knee"),
]


@dataclass
class Profile:
    """Which branch of each task family this patient exercises."""

    recent: dict[str, bool] = field(default_factory=dict)  # a result within 24 h
    low: dict[str, bool] = field(default_factory=dict)  # latest result below range
    missing: set[str] = field(default_factory=set)  # no result ever
    a1c_stale: bool = False
    anticoagulants: int = 0  # active anticoagulant orders


@dataclass
class World:
    seed: int
    resources: list[dict[str, Any]]
    profiles: dict[str, Profile]

    def patients(self) -> list[dict[str, Any]]:
        return [r for r in self.resources if r["resourceType"] == "Patient"]


def stamp(moment: datetime) -> str:
    """FHIR dateTime with an explicit +00:00 offset, as HAPI keeps it."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S+00:00")


class _Builder:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.counter = 0

    def next_id(self) -> str:
        self.counter += 1
        return str(self.counter)

    def when(self, earliest_days: float, latest_days: float) -> datetime:
        """A random moment between ``earliest_days`` and ``latest_days`` before NOW."""
        days = self.rng.uniform(latest_days, earliest_days)
        return (NOW - timedelta(days=days)).replace(second=0, microsecond=0)

    def meta(self, moment: datetime) -> dict[str, Any]:
        return {"lastUpdated": stamp(moment + timedelta(minutes=self.rng.randint(5, 90)))}


def generate(seed: int = DEFAULT_SEED, patients: int = DEFAULT_PATIENTS, *,
             reserved: frozenset[str] = frozenset()) -> World:
    """Build the whole world in memory; the same seed (and ``reserved``) gives the same world.

    ``reserved``: MRNs no patient here may have (another world's, so that a held-out world shares no
    patient with the world dev and val come from)."""
    builder = _Builder(seed)
    resources: list[dict[str, Any]] = []
    profiles: dict[str, Profile] = {}
    used_mrns: set[str] = set(reserved)
    for index in range(patients):
        mrn = _mrn(builder.rng, used_mrns)
        profile = _draw_profile(builder.rng)
        profiles[mrn] = profile
        resources.append(_patient(builder, mrn, index))
        resources.extend(sorted(_chart(builder, mrn, profile), key=_recorded))
    return World(seed=seed, resources=resources, profiles=profiles)


def _mrn(rng: random.Random, used: set[str]) -> str:
    while True:
        mrn = f"S{rng.randint(1000000, 9999999)}"
        if mrn not in used:
            used.add(mrn)
            return mrn


def _draw_profile(rng: random.Random) -> Profile:
    profile = Profile()
    for code in ("MG", "K", "GLU", "TSH", "FT4"):
        if rng.random() < 0.1:
            profile.missing.add(code)
        profile.recent[code] = rng.random() < 0.5
        profile.low[code] = rng.random() < 0.5
    profile.recent["K"] = True  # potassium replacement uses the latest result, whatever its age
    if rng.random() < 0.34:
        profile.missing.add("A1C")
    profile.a1c_stale = rng.random() < 0.5
    profile.anticoagulants = rng.choice([0, 0, 1, 2])
    return profile


def _patient(builder: _Builder, mrn: str, index: int) -> dict[str, Any]:
    rng = builder.rng
    gender = rng.choice(["male", "female"])
    given = GIVEN[index % len(GIVEN)]
    family = FAMILY[(index * 7 + rng.randint(0, 5)) % len(FAMILY)]
    birth = NOW - timedelta(days=rng.randint(19 * 365, 92 * 365))
    city, state, postal = rng.choice(CITIES)
    return {
        "resourceType": "Patient",
        "id": mrn,
        "meta": {"lastUpdated": stamp(NOW - timedelta(days=rng.randint(30, 900)))},
        "identifier": [
            {"use": "usual", "type": {"coding": [{"system": MR_TYPE, "code": "MR", "display": "Medical Record Number"}]},
             "system": MRN_SYSTEM, "value": mrn}
        ],
        "active": True,
        "name": [{"use": "official", "family": family, "given": [given]}],
        "telecom": [{"system": "phone", "value": f"555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}", "use": "home"}],
        "gender": gender,
        "birthDate": birth.strftime("%Y-%m-%d"),
        "address": [{"line": [f"{rng.randint(10, 9999)} {rng.choice(['Oak', 'Elm', 'Cedar', 'Birch'])} St"],
                     "city": city, "state": state, "postalCode": postal, "country": "US"}],
    }


def _recorded(resource: dict[str, Any]) -> str:
    """When the record reached the server: a chart is stored oldest first, as records arrive.

    The server's default order is storage order. A chart written latest result first let a search with no
    ``_sort`` return the latest result by accident, so a skill without ``_sort=-date`` passed; on a real
    server the first row of an unsorted search is not the latest one."""
    return resource["meta"]["lastUpdated"]


def _chart(builder: _Builder, mrn: str, profile: Profile) -> Iterator[dict[str, Any]]:
    rng = builder.rng
    subject = {"reference": f"Patient/{mrn}"}
    counts = {"GLU": rng.randint(110, 190), "K": rng.randint(60, 100), "MG": rng.randint(40, 80),
              "TSH": rng.randint(2, 6), "FT4": rng.randint(2, 6)}
    for code, count in counts.items():
        if code in profile.missing:
            continue
        yield from _lab_series(builder, subject, code, count, recent=profile.recent[code], low=profile.low[code])
    if "A1C" not in profile.missing:
        latest_age = rng.uniform(400, 700) if profile.a1c_stale else rng.uniform(10, 300)
        for offset in range(rng.randint(1, 6)):
            moment = builder.when(latest_age + offset * 120 + 5, latest_age + offset * 120)
            yield _lab(builder, subject, "A1C", round(rng.uniform(5.2, 9.8), 1), moment)
    for _ in range(rng.randint(75, 110)):
        yield _vital(builder, subject, "BP", builder.when(1000, 0.05))
        yield _vital(builder, subject, "HR", builder.when(1000, 0.05))
    for code, text in rng.sample(CONDITIONS, rng.randint(2, 6)):
        yield _condition(builder, subject, code, text, builder.when(2000, 30))
    for _ in range(rng.randint(35, 65)):
        code, text = rng.choice(PROCEDURES)
        yield _procedure(builder, subject, code, text, builder.when(1500, 1))
    for _ in range(rng.randint(2, 5)):
        code, text = rng.choice(PROCEDURES)
        yield service_request(builder.next_id(), subject, SNOMED, code, text, builder.when(1500, 3), status="completed")
    yield from _medications(builder, subject, profile)


def _lab_series(builder: _Builder, subject: dict, code: str, count: int, *, recent: bool, low: bool) -> Iterator[dict]:
    rng = builder.rng
    unit, normal_low, normal_high, low_floor = LABS[code]
    latest = builder.when(0.9, 0.05) if recent else builder.when(40, 1.3)
    if code == "TSH":  # for thyroid work the abnormal branch is a high TSH
        latest_value = rng.uniform(normal_high + 0.1, 12.0) if low else rng.uniform(normal_low + 0.05, normal_high - 0.1)
    else:
        latest_value = rng.uniform(low_floor, normal_low - 0.05) if low else rng.uniform(normal_low + 0.05, normal_high)
    yield _lab(builder, subject, code, _round(code, latest_value), latest)
    if recent and rng.random() < 0.6:  # several results inside the last day
        for _ in range(rng.randint(1, 3)):
            moment = latest - timedelta(hours=rng.uniform(1, 20))
            yield _lab(builder, subject, code, _round(code, rng.uniform(low_floor, normal_high)), moment)
    for _ in range(count):
        moment = latest - timedelta(days=rng.uniform(1.1, 1100))
        yield _lab(builder, subject, code, _round(code, rng.uniform(low_floor, normal_high * 1.05)), moment)


def _round(code: str, value: float) -> float:
    return round(value) if code == "GLU" else round(value, 2 if code in {"TSH", "FT4"} else 1)


def _lab(builder: _Builder, subject: dict, code: str, value: float, moment: datetime) -> dict[str, Any]:
    unit = LABS[code][0]
    return {
        "resourceType": "Observation",
        "id": builder.next_id(),
        "meta": builder.meta(moment),
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "laboratory", "display": "Laboratory"}]}],
        "code": {"coding": [{"system": LOINC, "code": code, "display": code}], "text": code},
        "subject": subject,
        "effectiveDateTime": stamp(moment),
        "issued": stamp(moment + timedelta(minutes=30)),
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }


def _vital(builder: _Builder, subject: dict, code: str, moment: datetime) -> dict[str, Any]:
    rng = builder.rng
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": builder.next_id(),
        "meta": builder.meta(moment),
        "status": "final",
        "category": [{"coding": [{"system": OBS_CATEGORY, "code": "vital-signs", "display": "Vital Signs"}]}],
        "code": {"text": code, "coding": [{"system": LOINC, "code": code, "display": code}]},
        "subject": subject,
        "effectiveDateTime": stamp(moment),
    }
    if code == "BP":
        resource["valueString"] = f"{rng.randint(95, 165)}/{rng.randint(55, 100)} mmHg"
    else:
        value = rng.randint(48, 125)
        resource["valueQuantity"] = {"value": value, "unit": "/min", "system": UCUM, "code": "/min"}
    return resource


def _condition(builder: _Builder, subject: dict, code: str, text: str, moment: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "id": builder.next_id(),
        "meta": builder.meta(moment),
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "problem-list-item"}]}],
        "code": {"coding": [{"system": ICD10, "code": code, "display": text}], "text": text},
        "subject": subject,
        "onsetDateTime": stamp(moment),
        "recordedDate": stamp(moment),
    }


def _procedure(builder: _Builder, subject: dict, code: str, text: str, moment: datetime) -> dict[str, Any]:
    return {
        "resourceType": "Procedure",
        "id": builder.next_id(),
        "meta": builder.meta(moment),
        "status": "completed",
        "code": {"coding": [{"system": SNOMED, "code": code, "display": text}], "text": text},
        "subject": subject,
        "performedDateTime": stamp(moment),
    }


def _medications(builder: _Builder, subject: dict, profile: Profile) -> Iterator[dict[str, Any]]:
    rng = builder.rng
    anticoagulants = rng.sample(sorted(ANTICOAGULANTS), profile.anticoagulants)
    for ndc in anticoagulants:
        yield medication_request(builder.next_id(), subject, ndc, ANTICOAGULANTS[ndc], "active", builder.when(20, 0.5))
    stopped = rng.choice(sorted(ANTICOAGULANTS))
    yield medication_request(builder.next_id(), subject, stopped, ANTICOAGULANTS[stopped], "stopped", builder.when(900, 60))
    for ndc in rng.sample(sorted(OTHER_MEDICATIONS), rng.randint(2, 5)):
        status = rng.choice(["active", "active", "stopped"])
        yield medication_request(builder.next_id(), subject, ndc, OTHER_MEDICATIONS[ndc], status, builder.when(900, 2))


def medication_request(rid: str, subject: dict, ndc: str, name: str, status: str, moment: datetime) -> dict[str, Any]:
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "meta": {"lastUpdated": stamp(moment)},
        "status": status,
        "intent": "order",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category",
                                  "code": "inpatient"}]}],
        "medicationCodeableConcept": {"coding": [{"system": NDC, "code": ndc, "display": name}], "text": name},
        "subject": subject,
        "authoredOn": stamp(moment),
        "dosageInstruction": [{"text": "as directed"}],
    }


def service_request(
    rid: str, subject: dict, system: str, code: str, text: str, moment: datetime, *, status: str = "active"
) -> dict[str, Any]:
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "meta": {"lastUpdated": stamp(moment)},
        "status": status,
        "intent": "order",
        "priority": "routine",
        "code": {"coding": [{"system": system, "code": code, "display": text}], "text": text},
        "subject": subject,
        "authoredOn": stamp(moment),
    }
