"""The cost of a run said before it starts, and a budget that pauses it cleanly and resumably."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from environments.arithmetic import ArithmeticEnvironment
from grasp.config import Budget
from grasp.errors import BudgetReached
from grasp.estimate import episodes_by_phase, estimate_run
from grasp.improve import improve
from grasp.report import write_report
from grasp.store import Database
from grasp.store.runs import RunStore

from .conftest import run_cli
from .improve.scripted_run import DEFAULT_PROPOSALS, config, executor, proposer, run


def test_episodes_by_phase_are_upper_bounds_read_from_the_config() -> None:
    cfg = config(candidates=2, epochs=2, trial=True, refinements=1, batch_size=3, gate={"probe_size": 4, "probe_pool": 3})
    cfg = cfg.with_advanced(explore={"amendments": 2, "peers": 1}, reference=True)
    # 12 dev items, 3 held for probes: 9 train in 3 batches an epoch, 6 decisions; 2 drafts + induction each
    assert episodes_by_phase(cfg, dev=12, val=5, test=8, reference=True) == {
        "train": 18, "trial": 6 * 3 * 2 * 3, "probe": 6 * 4 * 4, "explore": 6 * 3 * 2 * 2, "val": 15, "test": 24}
    assert episodes_by_phase(cfg, dev=12, val=0, test=8, reference=False)["test"] == 16


def test_the_estimate_is_rough_until_this_database_has_measured_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    environment, cfg = ArithmeticEnvironment(seed=1, per_split=18), config(candidates=1, epochs=2)
    rough = estimate_run(environment, environment, cfg, RunStore(Database(db)))
    assert rough.basis.startswith("rough") and rough.seconds is None and rough.earlier is None and rough.usd is None
    assert rough.episodes["train"] == 2 * (18 - 6)  # 6 held for the first probes
    assert rough.episodes["test"] == 3 * 18  # no skills, final and (asked for; none here to run) reference
    done = asyncio.run(run(str(db), run_id="first"))
    measured = estimate_run(environment, environment, cfg, RunStore(Database(db)))
    spent = RunStore(Database(db)).count_episodes(done.run_id)
    assert measured.basis.startswith("per call as measured") and measured.earlier == spent
    assert measured.total_episodes >= spent  # an upper bound holds for the run it bounds
    priced = cfg.model_copy(update={"executor": cfg.executor.model_copy(update={"prices": {"prompt": 1.0}})})
    assert estimate_run(environment, environment, priced, RunStore(Database(db))).usd > 0


def test_improve_estimate_prints_and_runs_nothing(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    result = run_cli("improve", "--env", "arithmetic", "--estimate", db=db)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("estimate: at most ") and "episodes (train " in result.stdout
    assert RunStore(Database(db)).list() == []


def test_a_budget_pauses_the_run_and_a_resume_with_more_finishes_as_if_never_paused(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    cfg = config(candidates=1, epochs=2).with_advanced(budget={"episodes": 10})
    environment = ArithmeticEnvironment(seed=1, per_split=18)
    with pytest.raises(BudgetReached, match="budget of 10 episodes"):
        asyncio.run(improve(environment, executor(), cfg, db=db, proposer=proposer(DEFAULT_PROPOSALS, by_seed=cfg.seed), run_id="b"))
    runs = RunStore(Database(db))
    assert runs.get("b").status == "interrupted" and runs.count_episodes("b") == 10
    resumed = asyncio.run(improve(environment, executor(), db=db, proposer=proposer(DEFAULT_PROPOSALS, by_seed=cfg.seed), resume="b",
                                  budget=Budget(episodes=100_000)))
    reference = asyncio.run(run(str(tmp_path / "ref.db"), run_id="b"))
    assert resumed.library.content_hash == reference.library.content_hash
    assert any("resumed with the budget" in note for note in resumed.state.notes)
    text = write_report(Database(db), "b", tmp_path / "b.html").read_text()
    assert "Estimated before the run: at most" in text and f"Spent: {runs.count_episodes('b')} episodes" in text


def test_bench_estimate_prints_each_run_and_the_total_and_runs_nothing(tmp_path: Path) -> None:
    db, config_file = tmp_path / "g.db", tmp_path / "c.yaml"
    config_file.write_text("environment: arithmetic\n")
    result = run_cli("bench", str(config_file), "--methods", "grasp,grasp-bare,no-skills", "--seeds", "2", "--estimate",
                     db=db)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.startswith("estimate ")]
    assert [line.split(":")[0] for line in lines] == ["estimate grasp, seed 0", "estimate grasp-bare, seed 0",
                                                       "estimate grasp, seed 1", "estimate grasp-bare, seed 1"]
    each = int(lines[0].split("at most ")[1].split()[0])
    assert f"the whole bench: at most {4 * each} episodes" in result.stdout and RunStore(Database(db)).list() == []
