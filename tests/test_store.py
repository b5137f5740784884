"""Semantics of the versioned library store."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from grasp.edits import Edit, EditKind, Evidence
from grasp.errors import CapacityError, NotFoundError, StoreBusyError, StoreError, ValidationError
from grasp.store import Database, LibraryStore
from grasp.store.schema import SCHEMA_VERSION

from .conftest import make_skill


def add(name: str, body: str = "Do it.") -> Edit:
    return Edit(kind=EditKind.ADD, skill=make_skill(name, body))


def test_every_edit_makes_a_new_version_with_its_parent(store: LibraryStore) -> None:
    store.create("lib")
    v1 = store.apply("lib", add("a"))
    v2 = store.apply("lib", Edit(kind=EditKind.MODIFY, skill=make_skill("a", "Better.")))
    assert (v1.number, v1.parent, v2.number, v2.parent) == (1, 0, 2, 1)
    assert store.version("lib", 1).skills["a"].body == "Do it.\n"
    assert store.version("lib").skills["a"].body == "Better.\n"


def test_capacity_holds_on_add_import_and_checkout(store: LibraryStore) -> None:
    store.create("lib", capacity=2)
    store.apply("lib", add("a"))
    store.apply("lib", add("b"))
    with pytest.raises(CapacityError, match="at most 2"):
        store.apply("lib", add("c"))
    with pytest.raises(CapacityError):
        store.commit_snapshot("lib", [make_skill(n) for n in "xyz"], origin="import", message="too many")
    assert len(store.version("lib").skills) == 2
    assert store.version("lib").number == 2


def test_replace_is_the_atomic_way_to_add_at_capacity(store: LibraryStore) -> None:
    store.create("lib", capacity=1)
    store.apply("lib", add("a"))
    version = store.apply("lib", Edit(kind=EditKind.REPLACE, target="a", skill=make_skill("b")))
    assert list(version.skills) == ["b"]
    # A REPLACE whose removal target is missing changes nothing at all.
    with pytest.raises(ValidationError, match="no skill of that name"):
        store.apply("lib", Edit(kind=EditKind.REPLACE, target="zzz", skill=make_skill("c")))
    assert list(store.version("lib").skills) == ["b"]
    assert store.version("lib").number == 2


def test_edit_shapes_are_validated() -> None:
    with pytest.raises(ValueError, match="needs a 'target'"):
        Edit(kind=EditKind.REMOVE)
    with pytest.raises(ValueError, match="needs a 'skill'"):
        Edit(kind=EditKind.ADD)
    with pytest.raises(ValueError, match="lowercase"):
        make_skill("Bad_Name")


def test_checkout_restores_as_a_new_version_without_rewriting_history(store: LibraryStore) -> None:
    store.create("lib")
    store.apply("lib", add("a"))
    store.apply("lib", add("b"))
    restored = store.checkout("lib", 1)
    assert restored.number == 3 and list(restored.skills) == ["a"]
    assert restored.content_hash == store.version("lib", 1).content_hash
    assert [v.number for v in store.versions("lib")] == [0, 1, 2, 3]


def test_skill_history_survives_remove_and_re_add(store: LibraryStore) -> None:
    store.create("lib")
    store.apply("lib", add("a", "First."))
    store.apply("lib", Edit(kind=EditKind.REMOVE, target="a"))
    store.apply("lib", add("a", "Second."))
    history = store.skill_history("lib", "a")
    assert [(r.revision, r.version) for r in history] == [(1, 1), (2, 2), (3, 3)]
    assert history[1].skill is None
    assert history[2].skill is not None and history[2].skill.body == "Second.\n"


def test_idempotency_key_never_applies_an_edit_twice(store: LibraryStore) -> None:
    store.create("lib")
    first = store.apply("lib", add("a"), idempotency_key="run1:e1:b1")
    again = store.apply("lib", add("a"), idempotency_key="run1:e1:b1")
    assert first.number == again.number == 1
    assert store.version("lib").number == 1


def test_evidence_is_stored_with_accepted_and_refused_decisions(store: LibraryStore) -> None:
    store.create("lib")
    accepted = Evidence(accepted=True, reason="fixes 2", fixes=2, score=2)
    refused = Evidence(accepted=False, reason="regressed", regressions=1, score=-1)
    store.apply("lib", add("a"), origin="proposer", evidence=accepted, run_id="r1")
    store.record_decision("lib", base=1, edit=add("b"), evidence=refused, run_id="r1")
    decisions = store.decisions("lib", run_id="r1")
    assert [(d.result_version, d.evidence.accepted) for d in decisions] == [(1, True), (None, False)]
    assert store.version("lib", 1).evidence == accepted


def test_unknown_library_and_version_are_clear_errors(store: LibraryStore) -> None:
    with pytest.raises(NotFoundError, match="no library named 'nope'"):
        store.version("nope")
    store.create("lib")
    with pytest.raises(NotFoundError, match="no version 7"):
        store.version("lib", 7)
    with pytest.raises(ValidationError, match="exists already"):
        store.create("lib")


def test_a_reader_is_not_blocked_while_a_writer_holds_the_lock(db_path) -> None:
    store = LibraryStore(db_path)
    store.create("lib")
    store.apply("lib", add("a"))
    writer = LibraryStore(db_path)
    with writer.db.write() as conn:  # a writer in the middle of its transaction
        conn.exec_driver_sql("UPDATE libraries SET capacity = 3")
        seen: list[int] = []
        thread = threading.Thread(target=lambda: seen.append(LibraryStore(db_path).capacity("lib")))
        thread.start()
        thread.join(timeout=5)
        assert seen == [10]  # the reader saw the last committed state, without waiting
    assert store.capacity("lib") == 3


def test_a_second_writer_gets_a_clear_busy_error(db_path) -> None:
    LibraryStore(db_path).create("lib")
    impatient = LibraryStore(Database(db_path, busy_timeout_s=0.1))
    holder = sqlite3.connect(db_path)
    holder.execute("BEGIN IMMEDIATE")  # another process mid-write
    try:
        with pytest.raises(StoreBusyError, match="another process is writing"):
            impatient.apply("lib", add("a"))
    finally:
        holder.rollback()
        holder.close()
    assert impatient.version("lib").number == 0
    assert impatient.apply("lib", add("a")).number == 1  # and it works once the lock is gone


def test_a_newer_schema_is_refused(db_path) -> None:
    LibraryStore(db_path)
    with sqlite3.connect(db_path) as conn:
        conn.execute("UPDATE grasp_meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match="newer than this grasp"):
        LibraryStore(db_path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path) -> None:
    bogus = tmp_path / "notes.db"
    bogus.write_text("this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable grasp database"):
        LibraryStore(bogus)


def test_a_version_1_database_is_migrated_in_place(db_path) -> None:
    LibraryStore(db_path).create("lib")
    with sqlite3.connect(db_path) as conn:  # make it look like a database written by schema version 1
        for table in ("episodes", "usage", "model_cache", "runs"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE grasp_meta SET value = '1' WHERE key = 'schema_version'")
    store = LibraryStore(db_path)
    assert store.version("lib").number == 0
    with sqlite3.connect(db_path) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        version = conn.execute("SELECT value FROM grasp_meta WHERE key = 'schema_version'").fetchone()[0]
    assert {"runs", "episodes", "usage", "model_cache"} <= tables and version == str(SCHEMA_VERSION)


def test_a_version_3_database_gets_each_decisions_stage_from_what_it_recorded(db_path) -> None:
    store = LibraryStore(db_path)
    store.create("lib")
    said = {"refused at trial: fixed none of 2 batch failure(s)": "trial",
            "not judged: no probe items outside the batch": "unjudged",
            "the environment still rejects it: x": "lint", "invalid proposal: unusable reply": "invalid"}
    for reason in said:
        store.record_decision("lib", base=0, edit=None, evidence=Evidence(accepted=False, reason=reason))
    probed = Evidence(accepted=False, reason="1 regression(s)", extra={"decision": "e1:b0", "probe": ["t1"]})
    store.record_decision("lib", base=0, edit=None, evidence=probed)
    with sqlite3.connect(db_path) as conn:  # as a grasp of schema version 3 left it: no stage column
        conn.execute("ALTER TABLE decisions DROP COLUMN stage")
        conn.execute("UPDATE grasp_meta SET value = '3' WHERE key = 'schema_version'")
    stages = [decision.stage for decision in LibraryStore(db_path).decisions("lib")]
    assert stages == [*said.values(), "gate"]
    with pytest.raises(ValidationError, match="decision stage 'probed' is none of"):
        store.record_decision("lib", base=0, edit=None, evidence=probed, stage="probed")
