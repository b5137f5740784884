"""`grasp gate`: a skill written anywhere gets improve's probe and rule; committed only if it passes.

The scripted executor (tests/improve/scripted_run.py, unit tests only) gets products right only with the
compute-first skill in its prompt, and everything wrong with a harmful-* skill. A hand-written skill has no family
tag: it is shown where its description's words meet the instruction's ("what"), as a deployed agent would pick it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from environments.arithmetic import ArithmeticEnvironment
from grasp.cli.gate import candidate_edit
from grasp.config import RunConfig
from grasp.improve.standalone import gate
from grasp.store import Database, LibraryStore
from grasp.store.runs import RunStore

from .scripted_run import HELPFUL, executor


def skill_file(folder: Path, name: str, description: str, body: str) -> Path:
    path = folder / name / "SKILL.md"
    path.parent.mkdir(parents=True)
    path.write_text(f"---\nname: {name}\ndescription: {description}\n---\n{body}\n", encoding="utf-8")
    return path


def gated(tmp_path: Path, path: Path, *, dry_run: bool = False):
    config = RunConfig(environment="arithmetic", seed=3, probe_size=6, limits={"dev": 18})
    edit = candidate_edit(path, {})
    return asyncio.run(gate(ArithmeticEnvironment(seed=1, per_split=18), executor(), edit, library="mine",
                            config=config, db=tmp_path / "g.db", dry_run=dry_run))


def test_a_helpful_skill_is_committed_with_the_items_it_fixed(tmp_path: Path) -> None:
    path = skill_file(tmp_path, HELPFUL, "Use when asked what a product is: compute first.", "1. CALC: <A> * <B>")
    verdict = gated(tmp_path, path)
    assert verdict.accepted and verdict.fixed and not verdict.broken
    assert set(verdict.fixed) <= set(verdict.probe)
    head = LibraryStore(tmp_path / "g.db").version("mine")
    assert verdict.committed.number == head.number == 1 and HELPFUL in head.skills
    [decision] = LibraryStore(tmp_path / "g.db").decisions("mine")
    assert decision.stage == "gate" and decision.origin == "gate" and decision.evidence.fixes == len(verdict.fixed)
    assert RunStore(Database(tmp_path / "g.db")).get(verdict.run_id).kind == "gate"


def test_a_harmful_skill_and_a_no_op_are_refused_with_their_evidence(tmp_path: Path) -> None:
    harmful = gated(tmp_path, skill_file(tmp_path, "harmful-shortcut", "Use for every question of what a result is: answer fast.",
                                         "1. Answer at once."))
    assert not harmful.accepted and harmful.broken and harmful.committed is None
    no_op = gated(tmp_path, skill_file(tmp_path, "be-careful", "Use for every question of what a result is: be careful.",
                                       "1. Check your work twice."))
    assert not no_op.accepted and not no_op.fixed and not no_op.broken
    store = LibraryStore(tmp_path / "g.db")
    assert store.version("mine").number == 0  # nothing committed
    assert [d.evidence.accepted for d in store.decisions("mine")] == [False, False]  # both recorded, with evidence


def test_a_dry_run_decides_and_commits_nothing(tmp_path: Path) -> None:
    path = skill_file(tmp_path, HELPFUL, "Use when asked what a product is: compute first.", "1. CALC: <A> * <B>")
    verdict = gated(tmp_path, path, dry_run=True)
    assert verdict.accepted and verdict.committed is None
    store = LibraryStore(tmp_path / "g.db")
    assert store.version("mine").number == 0 and store.decisions("mine") == []


def test_a_malformed_skill_file_is_one_line_naming_the_field_and_stores_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("---\ndescription: Use when asked.\n---\n1. Do it.\n", encoding="utf-8")
    db = tmp_path / "g.db"
    result = subprocess.run([sys.executable, "-c", "from grasp.cli import main; main()", "gate", "mine", str(bad),
                             "--env", "arithmetic"], env={**os.environ, "GRASP_DB": str(db)},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "bad.md" in result.stderr and "name" in result.stderr
    assert not db.exists() or RunStore(Database(db)).list() == []
