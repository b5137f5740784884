"""Codes and constants shared by the world generator, the server and the task families.

Lab codes follow MedAgentBench's convention: the local code (``MG``) is both
the code and the display, under the LOINC system URI.
"""

from __future__ import annotations

from datetime import datetime, timezone

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
NDC = "http://hl7.org/fhir/sid/ndc"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
MR_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
MRN_SYSTEM = "urn:grasp:mrn"

# The fixed "now" of every task: the world's clock stops here.
NOW = datetime(2024, 3, 15, 9, 30, tzinfo=timezone.utc)
NOW_TEXT = "2024-03-15T09:30:00+00:00"

# Lab code -> (unit, normal range low, normal range high, low range low)
LABS: dict[str, tuple[str, float, float, float]] = {
    "MG": ("mg/dL", 1.9, 2.6, 0.8),
    "K": ("mmol/L", 3.5, 5.1, 2.6),
    "GLU": ("mg/dL", 70.0, 180.0, 45.0),
    "A1C": ("%", 4.8, 6.4, 4.0),
    "TSH": ("mIU/L", 0.5, 4.5, 0.1),
    "FT4": ("ng/dL", 0.9, 1.7, 0.4),
}

# Orders the task families expect.
MAGNESIUM_IV = ("0338-1715-40", "magnesium sulfate in water for injection")
POTASSIUM_ORAL = ("40032-917-01", "potassium chloride extended-release oral")
ENOXAPARIN = ("0075-0624-40", "enoxaparin sodium injection")
LEVOTHYROXINE = ("0378-1805-01", "levothyroxine sodium oral tablet")
ANTICOAGULANTS = {
    "0075-0624-40": "enoxaparin sodium injection",
    "63323-262-01": "heparin sodium injection",
    "0056-0172-70": "warfarin sodium oral tablet",
    "0597-0152-30": "apixaban oral tablet",
}
OTHER_MEDICATIONS = {
    "0093-7180-56": "lisinopril oral tablet",
    "0591-0461-01": "metformin oral tablet",
    "0378-0208-01": "atorvastatin oral tablet",
    "0093-0058-01": "amoxicillin oral capsule",
    "0054-4297-25": "furosemide oral tablet",
    "0904-6286-61": "omeprazole oral capsule",
}
ORTHO_REFERRAL = "306181000000106"
POTASSIUM_LAB = "2823-3"
A1C_LAB = "4548-4"
TSH_LAB = "3016-3"
