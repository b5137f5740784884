"""The versioned skill library: every change is a new immutable version.

All paths that change a library (an edit, an import, a checkout, a recovery)
end in :meth:`LibraryStore._commit`, which is the single place where capacity
is enforced, so no caller can overflow a library.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, func, select

from ..edits import Edit, Evidence
from ..errors import CapacityError, NotFoundError, ValidationError
from ..skills import Skill, content_hash
from .db import Database
from .records import STAGES, Decision, LibraryInfo, SkillRevision, Version, apply_edit, parse_ref
from .schema import decisions, libraries, skill_revisions, version_skills, versions

DEFAULT_CAPACITY = 10


class LibraryStore:
    """Named, versioned skill libraries in one SQLite database."""

    def __init__(self, db: Database | str | Path) -> None:
        self.db = db if isinstance(db, Database) else Database(db)

    # -- creating and listing ---------------------------------------------------------
    def create(self, name: str, *, capacity: int = DEFAULT_CAPACITY, exist_ok: bool = False) -> Version:
        """Create an empty library (version 0).

        ``exist_ok`` returns an existing library only when its capacity is the one asked for: a
        silently kept smaller capacity would make later commits fail on every resume."""
        if not name or any(ch in name for ch in "@/ \t\n"):
            raise ValidationError(f"library name {name!r} must be non-empty without '@', '/' or spaces")
        if capacity < 0:
            raise ValidationError(f"capacity must be >= 0, got {capacity}")
        with self.db.write() as conn:
            existing = conn.execute(select(libraries.c.capacity).where(libraries.c.name == name)).first()
            if existing:
                if exist_ok and existing.capacity != capacity:
                    raise ValidationError(
                        f"library {name!r} exists with capacity {existing.capacity}, but {capacity} was asked for: "
                        "name another library, or ask for the same capacity")
                if exist_ok:
                    return self._version(conn, name, None)
                raise ValidationError(f"library {name!r} exists already")
            conn.execute(libraries.insert().values(name=name, capacity=capacity, created_at=_now()))
            self._insert_version(conn, name, {}, parent=None, origin="init", message="empty library")
            return self._version(conn, name, 0)

    def list(self) -> list[LibraryInfo]:
        with self.db.read() as conn:
            rows = conn.execute(select(libraries).order_by(libraries.c.name)).all()
            infos = []
            for row in rows:
                head = self._head(conn, row.id)
                count = len(self._skills_at(conn, row.id, head))
                infos.append(LibraryInfo(name=row.name, capacity=row.capacity, head=head, skill_count=count))
            return infos

    # -- reading ----------------------------------------------------------------------
    def version(self, name: str, number: int | None = None) -> Version:
        """A version of ``name``; the newest (head) when ``number`` is None."""
        with self.db.read() as conn:
            return self._version(conn, name, number)

    def resolve(self, ref: str) -> Version:
        """The version for a ``NAME[@VERSION]`` reference."""
        return self.version(*parse_ref(ref))

    def versions(self, name: str) -> list[Version]:
        with self.db.read() as conn:
            lib = self._library(conn, name)
            numbers = conn.execute(
                select(versions.c.number).where(versions.c.library_id == lib.id).order_by(versions.c.number)
            ).scalars()
            return [self._version(conn, name, number) for number in numbers]

    def skill_history(self, name: str, skill: str) -> list[SkillRevision]:
        with self.db.read() as conn:
            lib = self._library(conn, name)
            rows = conn.execute(
                select(skill_revisions)
                .where(skill_revisions.c.library_id == lib.id, skill_revisions.c.name == skill)
                .order_by(skill_revisions.c.revision)
            ).all()
        if not rows:
            raise NotFoundError(f"library {name!r} never had a skill named {skill!r}")
        return [
            SkillRevision(
                name=row.name,
                revision=row.revision,
                version=row.version,
                skill=Skill.model_validate(row.skill) if row.skill is not None else None,
            )
            for row in rows
        ]

    def capacity(self, name: str) -> int:
        with self.db.read() as conn:
            return self._library(conn, name).capacity

    # -- changing ---------------------------------------------------------------------
    def apply(
        self,
        name: str,
        edit: Edit,
        *,
        origin: str = "human",
        message: str = "",
        evidence: Evidence | None = None,
        base: int | None = None,
        idempotency_key: str | None = None,
        run_id: str | None = None,
        stage: str = "human",
    ) -> Version:
        """Apply ``edit`` to the head and record the decision; returns the new version.

        ``base`` guards against applying an edit to a library that moved on;
        ``idempotency_key`` makes a retried commit (after a crash) return the
        version it created the first time instead of applying the edit twice.
        """
        with self.db.write() as conn:
            existing = self._by_key(conn, name, idempotency_key)
            if existing is not None:
                return existing
            head = self._version(conn, name, None)
            if base is not None and base != head.number:
                raise ValidationError(f"library {name!r} moved from version {base} to {head.number}; edit not applied")
            new_skills = apply_edit(head.skills, edit)
            number = self._commit(
                conn,
                name,
                new_skills,
                origin=origin,
                message=message or edit.summary(),
                edit=edit,
                evidence=evidence,
                idempotency_key=idempotency_key,
            )
            if evidence is not None:
                self._insert_decision(conn, name, head.number, number, origin, edit, evidence, run_id, stage)
            return self._version(conn, name, number)

    def commit_snapshot(
        self,
        name: str,
        skills: list[Skill] | dict[str, Skill],
        *,
        origin: str,
        message: str,
        idempotency_key: str | None = None,
    ) -> Version:
        """Make ``skills`` the library's whole content as a new version (import, recovery)."""
        skill_map = skills if isinstance(skills, dict) else {skill.name: skill for skill in skills}
        if not isinstance(skills, dict) and len(skill_map) != len(skills):
            raise ValidationError("two skills share one name")
        with self.db.write() as conn:
            existing = self._by_key(conn, name, idempotency_key)
            if existing is not None:
                return existing
            number = self._commit(
                conn, name, skill_map, origin=origin, message=message, idempotency_key=idempotency_key
            )
            return self._version(conn, name, number)

    def checkout(self, name: str, number: int, *, message: str = "") -> Version:
        """Restore version ``number`` as a new head; history is never rewritten."""
        with self.db.write() as conn:
            old = self._version(conn, name, number)
            new = self._commit(
                conn, name, old.skills, origin="checkout", message=message or f"restore version {number}"
            )
            return self._version(conn, name, new)

    def record_decision(
        self,
        name: str,
        *,
        base: int,
        edit: Edit | None,
        evidence: Evidence,
        origin: str = "proposer",
        run_id: str | None = None,
        stage: str = "gate",
    ) -> None:
        """Store a refused (or informational) decision that produced no version."""
        with self.db.write() as conn:
            self._library(conn, name)
            self._insert_decision(conn, name, base, None, origin, edit, evidence, run_id, stage)

    def decisions(self, name: str, *, run_id: str | None = None) -> list[Decision]:
        with self.db.read() as conn:
            lib = self._library(conn, name)
            query = select(decisions).where(decisions.c.library_id == lib.id).order_by(decisions.c.id)
            if run_id is not None:
                query = query.where(decisions.c.run_id == run_id)
            rows = conn.execute(query).all()
        return [
            Decision(
                stage=row.stage,
                base_version=row.base_version,
                result_version=row.result_version,
                origin=row.origin,
                edit=Edit.model_validate(row.edit) if row.edit else None,
                evidence=Evidence.model_validate(row.evidence),
                run_id=row.run_id,
                created_at=row.created_at,
            )
            for row in rows
        ]

    # -- internals --------------------------------------------------------------------
    def _commit(
        self,
        conn: Connection,
        name: str,
        skills: dict[str, Skill],
        *,
        origin: str,
        message: str,
        edit: Edit | None = None,
        evidence: Evidence | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        lib = self._library(conn, name)
        if len(skills) > lib.capacity:
            raise CapacityError(
                f"library {name!r} holds at most {lib.capacity} skills; this change would make "
                f"{len(skills)} (use REPLACE or REMOVE at capacity)"
            )
        head = self._head(conn, lib.id)
        return self._insert_version(
            conn,
            name,
            skills,
            parent=head,
            origin=origin,
            message=message,
            edit=edit,
            evidence=evidence,
            idempotency_key=idempotency_key,
        )

    def _insert_version(
        self,
        conn: Connection,
        name: str,
        skills: dict[str, Skill],
        *,
        parent: int | None,
        origin: str,
        message: str,
        edit: Edit | None = None,
        evidence: Evidence | None = None,
        idempotency_key: str | None = None,
    ) -> int:
        lib = self._library(conn, name)
        number = 0 if parent is None else parent + 1
        previous = self._skill_revision_ids(conn, lib.id, parent) if parent is not None else {}
        version_id = conn.execute(
            versions.insert().values(
                library_id=lib.id,
                number=number,
                parent=parent,
                origin=origin,
                message=message,
                edit=edit.model_dump(mode="json") if edit else None,
                evidence=evidence.model_dump(mode="json") if evidence else None,
                content_hash=content_hash(list(skills.values())),
                idempotency_key=idempotency_key,
                created_at=_now(),
            )
        ).inserted_primary_key[0]
        for skill_name in previous:
            if skill_name not in skills:
                self._insert_revision(conn, lib.id, skill_name, None, number)
        links = []
        for skill in skills.values():
            old = previous.get(skill.name)
            if old is not None and old[1] == skill.content_hash:
                links.append(old[0])
            else:
                links.append(self._insert_revision(conn, lib.id, skill.name, skill, number))
        if links:
            conn.execute(version_skills.insert(), [{"version_id": version_id, "revision_id": rid} for rid in links])
        return number

    def _insert_revision(self, conn: Connection, library_id: int, name: str, skill: Skill | None, version: int) -> int:
        last = conn.execute(
            select(func.max(skill_revisions.c.revision)).where(
                skill_revisions.c.library_id == library_id, skill_revisions.c.name == name
            )
        ).scalar()
        return conn.execute(
            skill_revisions.insert().values(
                library_id=library_id,
                name=name,
                revision=(last or 0) + 1,
                skill=skill.model_dump(mode="json") if skill else None,
                content_hash=skill.content_hash if skill else None,
                version=version,
            )
        ).inserted_primary_key[0]

    def _insert_decision(self, conn: Connection, name: str, base: int, result: int | None, origin: str,
                         edit: Edit | None, evidence: Evidence, run_id: str | None, stage: str) -> None:
        if stage not in STAGES:
            raise ValidationError(f"decision stage {stage!r} is none of {', '.join(STAGES)}")
        conn.execute(decisions.insert().values(
            library_id=self._library(conn, name).id, base_version=base, result_version=result, origin=origin,
            edit=edit.model_dump(mode="json") if edit else None, evidence=evidence.model_dump(mode="json"),
            score=evidence.score, accepted=int(evidence.accepted), run_id=run_id, stage=stage, created_at=_now()))

    def _library(self, conn: Connection, name: str) -> Any:
        row = conn.execute(select(libraries).where(libraries.c.name == name)).first()
        if row is None:
            raise NotFoundError(f"no library named {name!r} in {self.db.path} (create it with 'grasp library init')")
        return row

    def _head(self, conn: Connection, library_id: int) -> int:
        return conn.execute(select(func.max(versions.c.number)).where(versions.c.library_id == library_id)).scalar()

    def _by_key(self, conn: Connection, name: str, key: str | None) -> Version | None:
        if key is None:
            return None
        lib = self._library(conn, name)
        number = conn.execute(
            select(versions.c.number).where(versions.c.library_id == lib.id, versions.c.idempotency_key == key)
        ).scalar()
        return None if number is None else self._version(conn, name, number)

    def _skill_revision_ids(self, conn: Connection, library_id: int, number: int) -> dict[str, tuple[int, str]]:
        rows = conn.execute(
            select(skill_revisions.c.name, skill_revisions.c.id, skill_revisions.c.content_hash)
            .join(version_skills, version_skills.c.revision_id == skill_revisions.c.id)
            .join(versions, versions.c.id == version_skills.c.version_id)
            .where(versions.c.library_id == library_id, versions.c.number == number)
        ).all()
        return {row.name: (row.id, row.content_hash) for row in rows}

    def _skills_at(self, conn: Connection, library_id: int, number: int) -> dict[str, Skill]:
        rows = conn.execute(
            select(skill_revisions.c.skill)
            .join(version_skills, version_skills.c.revision_id == skill_revisions.c.id)
            .join(versions, versions.c.id == version_skills.c.version_id)
            .where(versions.c.library_id == library_id, versions.c.number == number)
        ).scalars()
        skills = [Skill.model_validate(data) for data in rows]
        return {skill.name: skill for skill in sorted(skills, key=lambda s: s.name)}

    def _version(self, conn: Connection, name: str, number: int | None) -> Version:
        lib = self._library(conn, name)
        if number is None:
            number = self._head(conn, lib.id)
        row = conn.execute(
            select(versions).where(versions.c.library_id == lib.id, versions.c.number == number)
        ).first()
        if row is None:
            raise NotFoundError(f"library {name!r} has no version {number}")
        return Version(
            library=name,
            number=row.number,
            parent=row.parent,
            origin=row.origin,
            message=row.message,
            edit=Edit.model_validate(row.edit) if row.edit else None,
            evidence=Evidence.model_validate(row.evidence) if row.evidence else None,
            content_hash=row.content_hash,
            created_at=row.created_at,
            skills=self._skills_at(conn, lib.id, row.number),
        )


def _now() -> datetime:
    return datetime.now(UTC)
