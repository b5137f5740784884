"""The FHIR world in SQLite: raw JSON plus indexed columns for searching.

The world is built once per (generator version, seed, size) and cached as a
file. Episode writes live in the same table tagged with their episode id, so
an episode sees the world plus its own writes and nobody else's; deleting the
episode's rows restores the world exactly.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Index, Integer, MetaData, String, Table, Text, create_engine, delete, event, insert, select

from .world import DEFAULT_PATIENTS, DEFAULT_SEED, WORLD_VERSION, generate

metadata = MetaData()
resources = Table(
    "resources",
    metadata,
    Column("pk", Integer, primary_key=True),
    Column("rtype", String, nullable=False),
    Column("rid", String, nullable=False),
    Column("episode", String),  # NULL: part of the world
    Column("patient", String),
    Column("code", String),
    Column("code_system", String),
    Column("category", String),
    Column("status", String),
    Column("date", String),  # UTC, "YYYY-MM-DDTHH:MM:SS", sortable as text
    Column("last_updated", String),
    Column("family", String),
    Column("given", String),
    Column("birthdate", String),
    Column("gender", String),
    Column("identifier", String),
    Column("body", Text, nullable=False),
)
Index("ix_search", resources.c.rtype, resources.c.patient, resources.c.code, resources.c.date)
Index("ix_id", resources.c.rtype, resources.c.rid)
Index("ix_episode", resources.c.episode)
info = Table("world_info", metadata, Column("key", String, primary_key=True), Column("value", String))

DATE_FIELDS = {
    "Observation": "effectiveDateTime",
    "MedicationRequest": "authoredOn",
    "ServiceRequest": "authoredOn",
    "Procedure": "performedDateTime",
    "Condition": "onsetDateTime",
}


def cache_dir() -> Path:
    return Path(os.environ.get("GRASP_CACHE_DIR") or Path.home() / ".cache" / "grasp")


def world_path(seed: int = DEFAULT_SEED, patients: int = DEFAULT_PATIENTS, *, held_out_from: int | None = None) -> Path:
    """The cache file of a world; a held-out world (MRNs of world ``held_out_from`` reserved) has its own."""
    apart = f"-apart{held_out_from}" if held_out_from is not None else ""
    return cache_dir() / f"fhir-world-v{WORLD_VERSION}-seed{seed}{apart}-n{patients}.db"


def utc_text(value: str | None) -> str | None:
    """Normalize a FHIR dateTime/date to sortable UTC text; None when unparsable."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def index_row(resource: dict[str, Any], episode: str | None = None) -> dict[str, Any]:
    """The searchable columns of one resource."""
    rtype = resource["resourceType"]
    coding = ((resource.get("code") or {}).get("coding") or [{}])[0]
    if rtype == "MedicationRequest":
        coding = ((resource.get("medicationCodeableConcept") or {}).get("coding") or [{}])[0]
    category = ((resource.get("category") or [{}])[0].get("coding") or [{}])[0].get("code")
    reference = (resource.get("subject") or {}).get("reference", "")
    row = {
        "rtype": rtype,
        "rid": str(resource.get("id", "")),
        "episode": episode,
        "patient": reference.split("/", 1)[1] if reference.startswith("Patient/") else None,
        "code": coding.get("code") or (resource.get("code") or {}).get("text"),
        "code_system": coding.get("system"),
        "category": category,
        "status": resource.get("status"),
        "date": utc_text(resource.get(DATE_FIELDS.get(rtype, ""))),
        "last_updated": utc_text((resource.get("meta") or {}).get("lastUpdated")),
        "family": None,
        "given": None,
        "birthdate": None,
        "gender": None,
        "identifier": None,
        "body": json.dumps(resource, separators=(",", ":")),
    }
    if rtype == "Patient":
        name = (resource.get("name") or [{}])[0]
        row.update(
            patient=resource.get("id"),
            family=(name.get("family") or "").lower(),
            given=" ".join(name.get("given") or []).lower(),
            birthdate=resource.get("birthDate"),
            gender=resource.get("gender"),
            identifier="|".join(i.get("value", "") for i in resource.get("identifier") or []),
        )
    return row


class WorldStore:
    """Open (building if needed) the world database; the server's only data access."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.engine = create_engine(f"sqlite:///{path}", connect_args={"check_same_thread": False})
        event.listen(self.engine, "connect", _pragmas)
        with self.engine.begin() as conn:  # a crashed run may have left episode rows
            conn.execute(delete(resources).where(resources.c.episode.is_not(None)))

    @classmethod
    def open(
        cls,
        seed: int = DEFAULT_SEED,
        patients: int = DEFAULT_PATIENTS,
        *,
        path: Path | None = None,
        progress: Callable[[int, int], None] | None = None,
        reserved: frozenset[str] = frozenset(),
    ) -> "WorldStore":
        """The cached world for ``seed``; built (and validated) on first use. A world with ``reserved`` MRNs
        (a held-out one) is another world than the plain one of its seed: give it a ``path`` of its own."""
        path = path or world_path(seed, patients)
        if not _is_complete(path):
            build(path, seed, patients, progress=progress, reserved=reserved)
        return cls(path)

    def insert(self, resource: dict[str, Any], episode: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(insert(resources).values(**index_row(resource, episode)))

    def writes(self, episode: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(resources.c.body).where(resources.c.episode == episode).order_by(resources.c.pk))
            return [json.loads(body) for (body,) in rows]

    def drop_episode(self, episode: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(resources).where(resources.c.episode == episode))


def _pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _is_complete(path: Path) -> bool:
    if not path.exists():
        return False
    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            return conn.execute(select(info.c.value).where(info.c.key == "complete")).scalar() == "yes"
    except Exception:  # noqa: BLE001 - any unreadable cache file is rebuilt
        return False
    finally:
        engine.dispose()


def build(
    path: Path, seed: int, patients: int, *, progress: Callable[[int, int], None] | None = None,
    reserved: frozenset[str] = frozenset(),
) -> int:
    """Generate, validate and store a world; written to a temp file and renamed, so never half-built."""
    from .validation import validate_resource

    world = generate(seed, patients, reserved=reserved)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{partial}")
    metadata.create_all(engine)
    total = len(world.resources)
    with engine.begin() as conn:
        batch: list[dict[str, Any]] = []
        for done, resource in enumerate(world.resources, 1):
            problem = validate_resource(resource)
            if problem:
                raise ValueError(f"generated {resource['resourceType']}/{resource['id']} is invalid: {problem}")
            batch.append(index_row(resource))
            if len(batch) == 2000 or done == total:
                conn.execute(insert(resources), batch)
                batch = []
                if progress:
                    progress(done, total)
        conn.execute(insert(info), [
            {"key": "world_version", "value": str(WORLD_VERSION)},
            {"key": "seed", "value": str(seed)},
            {"key": "patients", "value": str(patients)},
            {"key": "complete", "value": "yes"},
        ])
    engine.dispose()
    os.replace(partial, path)
    return total

