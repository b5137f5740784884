"""The task families of the FHIR environment, by name."""

from __future__ import annotations

from .base import Family, WorldIndex
from .lookups import AverageGlucose, LatestGlucose, LatestLabWindow, PatientAge, PatientLookup
from .multistep import AnticoagulantReconcile, ThyroidCheck
from .orders import A1cCheck, MagnesiumReplacement, OrthoReferral, PotassiumReplacement, RecordVital

FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        PatientLookup(), PatientAge(), RecordVital(), LatestLabWindow(), MagnesiumReplacement(), AverageGlucose(),
        LatestGlucose(), OrthoReferral(), PotassiumReplacement(), A1cCheck(), AnticoagulantReconcile(), ThyroidCheck(),
    )
}
# Held out of dev/val/test: they form the out-of-distribution split.
OOD_FAMILIES = ("anticoag_reconcile", "thyroid_check")

__all__ = ["FAMILIES", "OOD_FAMILIES", "Family", "WorldIndex"]
