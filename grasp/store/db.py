"""The SQLite database under every grasp store: engine, transactions, schema version.

Only modules in :mod:`grasp.store` touch the database. The engine runs in
autocommit mode so that we issue transactions ourselves: readers use plain
``BEGIN`` (never blocked by a writer under WAL) and writers ``BEGIN
IMMEDIATE``, so a second concurrent writer fails fast with a clear error
instead of deadlocking half-way through a commit.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, update
from sqlalchemy.exc import DatabaseError, OperationalError

from ..errors import StoreBusyError, StoreError
from .schema import SCHEMA_VERSION, meta, metadata

DEFAULT_DB = "grasp.db"
DB_ENV_VAR = "GRASP_DB"

# Upgrades from schema version N to N + 1, each run in one write transaction
# together with the bump of the recorded version. Add an entry here whenever
# schema.py changes shape, and bump SCHEMA_VERSION.
def _add_run_tables(conn: Connection) -> None:
    """1 -> 2: runs, episodes, usage and the model reply cache (new tables only)."""
    from .schema import episodes, model_cache, runs, usage

    metadata.create_all(conn, tables=[runs, episodes, usage, model_cache])


def _add_search_calls(conn: Connection) -> None:
    """2 -> 3: the environment calls of search (a new table only)."""
    from .schema import search_calls

    metadata.create_all(conn, tables=[search_calls])


def _add_decision_stage(conn: Connection) -> None:
    """3 -> 4: each decision's stage as a column, read from what older grasps wrote in its reason and evidence."""
    from .schema import decisions

    if "stage" not in {column["name"] for column in inspect(conn).get_columns("decisions")}:
        conn.exec_driver_sql("ALTER TABLE decisions ADD COLUMN stage VARCHAR NOT NULL DEFAULT 'gate'")
    for row in conn.execute(select(decisions.c.id, decisions.c.evidence, decisions.c.result_version)).all():
        conn.execute(update(decisions).where(decisions.c.id == row.id).values(
            stage=stage_of_old_record(row.evidence or {}, accepted=row.result_version is not None)))


def stage_of_old_record(evidence: dict, *, accepted: bool) -> str:
    """The stage of a decision stored before stages were (schema 3 and older), from its words: the one place
    a reason is read, once, in this migration."""
    reason, extra = evidence.get("reason", ""), evidence.get("extra") or {}
    if reason.startswith("refused at trial"):
        return "trial"
    if reason.startswith("not judged"):
        return "unjudged"
    if extra.get("probe") or evidence.get("items"):
        return "gate"
    if accepted:
        return "ungated" if extra.get("decision") else "human"
    return "lint" if "repeats the mistake" in reason or "still rejects" in reason else "invalid"


MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _add_run_tables, 2: _add_search_calls, 3: _add_decision_stage}


def default_db_path() -> Path:
    """The database used when none is given: $GRASP_DB or ./grasp.db."""
    return Path(os.environ.get(DB_ENV_VAR) or DEFAULT_DB)


class Database:
    """One SQLite file opened for grasp, with its schema checked and created."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 5.0) -> None:
        self.path = Path(path)
        if self.path.parent and not self.path.parent.exists():
            raise StoreError(f"{self.path}: folder {self.path.parent} does not exist")
        self.engine: Engine = create_engine(
            f"sqlite:///{self.path}",
            isolation_level="AUTOCOMMIT",
            connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
        )
        event.listen(self.engine, "connect", _configure_connection)
        try:
            self._prepare_schema()
        except DatabaseError as error:
            raise StoreError(f"{self.path}: not a usable grasp database ({error.orig})") from None

    def _recorded_schema_version(self, conn: Connection) -> int | None:
        if not inspect(conn).has_table(meta.name):
            return None
        value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        return None if value is None else int(value)

    def _prepare_schema(self) -> None:
        # Read first: opening an up-to-date database must not wait for a writer.
        with self.read() as conn:
            if self._recorded_schema_version(conn) == SCHEMA_VERSION:
                return
        with self.write() as conn:
            found = self._recorded_schema_version(conn)
            if found is None:
                metadata.create_all(conn)
                conn.execute(meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
                return
            if found > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path}: database schema version {found} is newer than this grasp "
                    f"understands ({SCHEMA_VERSION}); upgrade grasp"
                )
            while found < SCHEMA_VERSION:
                if found not in MIGRATIONS:
                    raise StoreError(f"{self.path}: no migration from schema version {found}")
                MIGRATIONS[found](conn)
                found += 1
                conn.execute(meta.update().where(meta.c.key == "schema_version").values(value=str(found)))

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A consistent snapshot for several SELECTs; never waits for writers."""
        with self.engine.connect() as conn:
            conn.exec_driver_sql("BEGIN")
            try:
                yield conn
            finally:
                conn.exec_driver_sql("ROLLBACK")

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One atomic write transaction; a concurrent writer gets StoreBusyError."""
        with self.engine.connect() as conn:
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except OperationalError as error:
                raise _translate(error, self.path) from None
            try:
                yield conn
            except BaseException:
                conn.exec_driver_sql("ROLLBACK")
                raise
            try:
                conn.exec_driver_sql("COMMIT")
            except OperationalError as error:
                conn.exec_driver_sql("ROLLBACK")
                raise _translate(error, self.path) from None

    def close(self) -> None:
        self.engine.dispose()


def _configure_connection(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _translate(error: OperationalError, path: Path) -> StoreError:
    text = str(error.orig)
    if "locked" in text or "busy" in text:
        return StoreBusyError(f"{path}: another process is writing to this database; try again when it is done")
    return StoreError(f"{path}: {text}")
