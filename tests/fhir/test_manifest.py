"""The committed split manifest is exactly what the seeded generator draws."""

from __future__ import annotations

from environments.fhir.tasks import draw_manifest
from probes.manifest import Manifest, manifest_path


def test_committed_manifest_is_reproducible_from_its_seed() -> None:
    committed = Manifest.load(manifest_path("fhir"))
    assert draw_manifest().hash == committed.hash
    counts = committed.counts()
    assert all(n == 12 for n in counts["dev"].values()) and len(counts["dev"]) == 10
    assert counts["ood"] == {"anticoag_reconcile": 30, "thyroid_check": 30}
