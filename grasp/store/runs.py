"""Runs, their episodes and their token usage, in the same database as the libraries.

Every episode is stored under a *key* that says what it was for (phase,
epoch, batch, task, library content); a resumed run looks the key up before
running anything, so no episode runs twice and none is lost.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, insert, select, update

from ..environment import Episode
from ..errors import NotFoundError
from .db import Database
from .schema import episodes, model_cache, runs, search_calls, usage


class RunInfo(BaseModel):
    id: str
    kind: str
    environment: str
    manifest_hash: str | None
    library: str | None
    config: dict[str, Any]
    status: str
    state: dict[str, Any] | None
    summary: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class Usage(BaseModel):
    role: str
    model: str
    calls: int
    cached_calls: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float


def new_run_id(kind: str) -> str:
    """A readable, unique run id: kind, UTC time, and a random suffix."""
    return f"{kind}-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


class RunStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, *, kind: str, environment: str, config: dict[str, Any], manifest_hash: str | None = None,
               library: str | None = None, run_id: str | None = None) -> str:
        run_id = run_id or new_run_id(kind)
        now = datetime.now(UTC)
        with self.db.write() as conn:
            conn.execute(insert(runs).values(
                id=run_id, kind=kind, environment=environment, manifest_hash=manifest_hash, library=library,
                config=config, status="running", state=None, summary=None, created_at=now, updated_at=now,
            ))
        return run_id

    def get(self, run_id: str) -> RunInfo:
        with self.db.read() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
        if row is None:
            raise NotFoundError(f"no run {run_id!r} in {self.db.path} (see 'grasp runs list')")
        return RunInfo.model_validate(row._asdict())

    def list(self) -> list[RunInfo]:
        with self.db.read() as conn:
            rows = conn.execute(select(runs).order_by(runs.c.created_at.desc())).all()
        return [RunInfo.model_validate(row._asdict()) for row in rows]

    def update(self, run_id: str, **fields: Any) -> None:
        """Set status, state, summary or library of a run."""
        with self.db.write() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**fields, updated_at=datetime.now(UTC)))

    # -- episodes ---------------------------------------------------------------------
    def episode(self, run_id: str, key: str) -> Episode | None:
        with self.db.read() as conn:
            record = conn.execute(
                select(episodes.c.record).where(episodes.c.run_id == run_id, episodes.c.key == key)
            ).scalar()
        return None if record is None else Episode.model_validate(record)

    def save_episode(self, run_id: str, key: str, phase: str, episode: Episode) -> None:
        with self.db.write() as conn:
            exists = conn.execute(
                select(episodes.c.id).where(episodes.c.run_id == run_id, episodes.c.key == key)
            ).first()
            if exists:
                return
            conn.execute(insert(episodes).values(
                run_id=run_id, key=key, phase=phase, task_id=episode.task_id, family=episode.family,
                passed=int(episode.passed), invalid=int(episode.invalid), errored=int(episode.error is not None),
                record=episode.model_dump(mode="json"), created_at=datetime.now(UTC),
            ))

    def episodes(self, run_id: str, *, phase: str | None = None, key_prefix: str | None = None,
                 family: str | None = None, passed: bool | None = None) -> list[Episode]:
        """Stored episodes, oldest first, optionally filtered."""
        query = select(episodes.c.record).where(episodes.c.run_id == run_id).order_by(episodes.c.id)
        if phase is not None:
            query = query.where(episodes.c.phase == phase)
        if key_prefix is not None:
            query = query.where(episodes.c.key.startswith(key_prefix, autoescape=True))
        if family is not None:
            query = query.where(episodes.c.family == family)
        if passed is not None:
            query = query.where(episodes.c.passed == int(passed))
        with self.db.read() as conn:
            return [Episode.model_validate(record) for record in conn.execute(query).scalars()]

    def outcomes(self, run_id: str, *, phase: str) -> list[tuple[str, bool]]:
        """(task id, passed) of every stored episode of ``phase``, oldest first, without the trajectories."""
        query = (select(episodes.c.task_id, episodes.c.passed)
                 .where(episodes.c.run_id == run_id, episodes.c.phase == phase).order_by(episodes.c.id))
        with self.db.read() as conn:
            return [(task_id, bool(passed)) for task_id, passed in conn.execute(query)]

    def count_episodes(self, run_id: str, *, phase: str | None = None) -> int:
        query = select(func.count()).select_from(episodes).where(episodes.c.run_id == run_id)
        if phase is not None:
            query = query.where(episodes.c.phase == phase)
        with self.db.read() as conn:
            return conn.execute(query).scalar() or 0

    # -- search calls -----------------------------------------------------------------
    def add_search_call(self, run_id: str, *, phase: str, task_id: str, action: str, outcome: str,
                        observation: str) -> None:
        with self.db.write() as conn:
            conn.execute(insert(search_calls).values(
                run_id=run_id, phase=phase, task_id=task_id, action=action, outcome=outcome,
                observation=observation[:500], created_at=datetime.now(UTC)))

    def search_calls(self, run_id: str, *, phase: str | None = None) -> list[dict[str, str]]:
        """Every environment call a search made in the run, in order: phase, task, action, outcome, answer."""
        query = select(search_calls).where(search_calls.c.run_id == run_id).order_by(search_calls.c.id)
        if phase is not None:
            query = query.where(search_calls.c.phase == phase)
        with self.db.read() as conn:
            return [{"phase": row.phase, "task_id": row.task_id, "action": row.action, "outcome": row.outcome,
                     "observation": row.observation} for row in conn.execute(query)]

    def count_search_calls(self, run_id: str) -> int:
        query = select(func.count()).select_from(search_calls).where(search_calls.c.run_id == run_id)
        with self.db.read() as conn:
            return conn.execute(query).scalar() or 0

    # -- usage ------------------------------------------------------------------------
    def add_usage(self, run_id: str, role: str, model: str, *, prompt_tokens: int, completion_tokens: int,
                  seconds: float, cached: bool) -> None:
        with self.db.write() as conn:
            key = (usage.c.run_id == run_id) & (usage.c.role == role) & (usage.c.model == model)
            if conn.execute(select(usage.c.calls).where(key)).first() is None:
                conn.execute(insert(usage).values(run_id=run_id, role=role, model=model, calls=0, cached_calls=0,
                                                  prompt_tokens=0, completion_tokens=0, seconds=0.0))
            conn.execute(update(usage).where(key).values(
                calls=usage.c.calls + 1,
                cached_calls=usage.c.cached_calls + int(cached),
                prompt_tokens=usage.c.prompt_tokens + prompt_tokens,
                completion_tokens=usage.c.completion_tokens + completion_tokens,
                seconds=usage.c.seconds + seconds,
            ))

    def usage(self, run_id: str) -> list[Usage]:
        with self.db.read() as conn:
            rows = conn.execute(select(usage).where(usage.c.run_id == run_id).order_by(usage.c.role)).all()
        return [Usage.model_validate(row._asdict()) for row in rows]


class ReplyCache:
    """Model replies keyed by model id and the full request (temperature-0 calls)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def key(model: str, request: dict[str, Any]) -> str:
        text = json.dumps({"model": model, **request}, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        with self.db.read() as conn:
            return conn.execute(select(model_cache.c.reply).where(model_cache.c.key == key)).scalar()

    def put(self, key: str, model: str, reply: dict[str, Any]) -> None:
        with self.db.write() as conn:
            if conn.execute(select(model_cache.c.key).where(model_cache.c.key == key)).first() is None:
                conn.execute(insert(model_cache).values(key=key, model=model, reply=reply, created_at=datetime.now(UTC)))
