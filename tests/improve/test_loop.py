"""The improvement loop end to end with scripted models that react to the skills in their prompt."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from grasp.errors import SealedSplitError
from grasp.improve.loop import SealedSplit
from grasp.improve.state import RunState
from grasp.store import LibraryStore

from .scripted_run import HELPFUL, config, proposal, run

ROOT = Path(__file__).resolve().parents[2]


def decisions(db: Path, library: str):
    return LibraryStore(db).decisions(library)


def test_a_fixing_edit_is_accepted_and_harmful_and_no_op_edits_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    result = asyncio.run(run(str(db), run_id="r1"))
    assert HELPFUL in result.library.skills
    made = {d.edit.skill_name if d.edit else None: d for d in decisions(db, "r1")}
    assert made[HELPFUL].evidence.accepted and made[HELPFUL].evidence.fixes > 0
    harmful = made["harmful-shortcut"].evidence
    assert not harmful.accepted and harmful.score <= 0
    assert any(item.before and item.after is False for item in harmful.items) or harmful.episodes_saved > 0
    no_op = made["be-careful"].evidence
    assert not no_op.accepted and no_op.score == 0 and no_op.fixes == 0
    test = result.state.test
    assert test["final"]["accuracy"] > test["no_skills"]["accuracy"]
    # The gated head is the best on val (0.33 with no skills, then 0.67 after each epoch): it is final as committed,
    # with the evidence of the edit that made it.
    assert result.library.origin == "proposer" and result.library.evidence.accepted
    assert result.state.checkpoint == result.library.number == 1


def test_capacity_is_never_exceeded(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    many = [proposal(f"skill-{i}", f"Use for product questions variant {i}.", f"Step {i}: compute the product first.") for i in range(6)]
    many.insert(0, proposal(HELPFUL, "Use for product questions: compute with CALC before answering."))
    result = asyncio.run(run(str(db), run_id="cap", proposals=many, cfg=config(capacity=1, epochs=2, candidates=2)))
    for version in LibraryStore(db).versions("cap"):
        assert len(version.skills) <= 1
    refusals = [d.evidence.reason for d in decisions(db, "cap") if not d.evidence.accepted]
    assert any("ADD at capacity" in reason for reason in refusals)
    assert len(result.library.skills) <= 1


def test_probe_never_intersects_the_batch(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    asyncio.run(run(str(db), run_id="probe"))
    from grasp.store.runs import RunStore
    from grasp.store import Database

    runs = RunStore(Database(db))
    for decision in decisions(db, "probe"):
        key = decision.evidence.extra["decision"]
        probe = set(decision.evidence.extra.get("probe", []))
        batch = {e.task_id for e in runs.episodes("probe", phase="train", key_prefix=f"train:{key}:")}
        assert batch and not probe & batch


def test_early_reject_saves_episodes_and_changes_no_decision(tmp_path: Path) -> None:
    fast = asyncio.run(run(str(tmp_path / "a.db"), run_id="x", cfg=config(epochs=2, gate={"early_reject": True})))
    slow = asyncio.run(run(str(tmp_path / "b.db"), run_id="x", cfg=config(epochs=2, gate={"early_reject": False})))
    verdicts = lambda db: [(d.edit.summary() if d.edit else None, d.evidence.accepted) for d in decisions(db, "x")]
    assert verdicts(tmp_path / "a.db") == verdicts(tmp_path / "b.db")
    assert fast.library.content_hash == slow.library.content_hash
    assert fast.counts.gate_episodes_saved > 0 and slow.counts.gate_episodes_saved == 0
    assert fast.counts.gate_episodes < slow.counts.gate_episodes


def test_the_sealed_test_cannot_be_read_twice() -> None:
    state = RunState()
    sealed = SealedSplit([], state)
    sealed.read()
    with pytest.raises(SealedSplitError, match="already read"):
        sealed.read()


def script(db: Path, *args: str, hash_seed: str = "0") -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run([sys.executable, "-m", "tests.improve.scripted_run", str(db), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_decisions_are_identical_under_two_hash_seeds(tmp_path: Path) -> None:
    first = script(tmp_path / "a.db", hash_seed="1")
    second = script(tmp_path / "b.db", hash_seed="4242")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert json.loads(first.stdout) == json.loads(second.stdout)
    probes = lambda db: [d.evidence.extra.get("probe") for d in decisions(db, "r1")]
    assert probes(tmp_path / "a.db") == probes(tmp_path / "b.db")


def test_a_run_killed_mid_batch_resumes_to_the_same_library(tmp_path: Path) -> None:
    whole = script(tmp_path / "whole.db")
    assert whole.returncode == 0, whole.stderr
    killed = script(tmp_path / "crash.db", "40")
    assert killed.returncode == -9  # SIGKILL in the middle of a batch
    resumed = script(tmp_path / "crash.db", "100000", "r1")
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout) == json.loads(whole.stdout)
    store = LibraryStore(tmp_path / "crash.db")
    keys = [v.number for v in store.versions("r1") if v.origin == "proposer"]
    assert len(keys) == json.loads(whole.stdout)["accepted"]  # no edit applied twice


def test_a_skill_the_environment_rejects_is_rewritten_once_or_refused(tmp_path: Path) -> None:
    from environments.arithmetic import ArithmeticEnvironment
    from grasp.environment import Hints
    from grasp.improve import improve

    from .scripted_run import executor, proposer

    class Capitals(Hints):
        def check_skill(self, text: str) -> str | None:
            return "CALC is spelled in capitals" if "calc:" in text else None

    class Strict(ArithmeticEnvironment):
        def hints(self) -> Hints:
            return Capitals()

    bad = proposal(HELPFUL, "Use for product questions: compute first.", "Reply calc: <expression>, then answer.")
    good = proposal(HELPFUL, "Use for product questions: compute first.", "Reply CALC: <expression>, then answer.")
    result = asyncio.run(improve(Strict(seed=1, per_split=18), executor(), config(epochs=1), db=tmp_path / "g.db",
                                 proposer=proposer([bad, good, bad, bad]), run_id="chk"))
    assert HELPFUL in result.library.skills and "CALC:" in result.library.skills[HELPFUL].body
    accepted = [d for d in LibraryStore(tmp_path / "g.db").decisions("chk") if d.result_version is not None]
    assert accepted and accepted[0].origin == "refined"  # the rewrite, not the draft the environment rejected


def test_a_refusal_says_when_the_probe_held_no_failing_item_of_the_candidates_family(tmp_path: Path) -> None:
    """Three products in a dev pool of nine: the ones that built a candidate are kept out of its probe, so a
    refusal can mean "no chance to show a fix" rather than "it does not help"; the reason must tell which."""
    from environments.arithmetic import ArithmeticEnvironment
    from grasp.config import RunConfig
    from grasp.improve import improve
    from grasp.tasks import Task

    from .scripted_run import DEFAULT_PROPOSALS, executor, proposer

    class FewProducts(ArithmeticEnvironment):
        def __init__(self) -> None:
            super().__init__(seed=1, per_split=12)
            dev = [Task(id=f"dev-add-{i}", family="add", instruction=f"What is {i} + 3?", solution={"expected": i + 3})
                   for i in range(6)]
            dev += [Task(id=f"dev-times-{i}", family="times", instruction=f"What is {i + 2} * 3?",
                         solution={"expected": (i + 2) * 3}) for i in range(3)]
            self._splits["dev"] = dev

    cfg = RunConfig(environment="arithmetic", seed=0, epochs=1, batch_size=2, probe_size=4, limits={"dev": None, "val": None, "test": None},
                    advanced={"loop": {"candidates": 1, "trial": False}, "gate": {"probe_pool": 1}})
    asyncio.run(improve(FewProducts(), executor(), cfg, db=tmp_path / "g.db", proposer=proposer(DEFAULT_PROPOSALS),
                        run_id="few"))
    family = {task.id: task.family for task in FewProducts().tasks("dev")}
    judged = [d for d in decisions(tmp_path / "g.db", "few") if d.evidence.items and not d.evidence.accepted]
    said = [d for d in judged if "the probe held no failing times item" in d.evidence.reason]
    assert said, "the scenario must produce a candidate whose probe held no failing item of its family"
    for decision in judged:
        families = {family[task_id] for task_id in decision.evidence.extra["seen"]}
        chance = any(not item.before and item.family in families for item in decision.evidence.items)
        assert (decision in said) == (not chance)


def test_a_run_with_no_val_items_validates_nothing_and_keeps_the_gated_head(tmp_path: Path) -> None:
    from grasp.store import Database
    from grasp.store.runs import RunStore

    db = tmp_path / "g.db"
    cfg = config().model_copy(update={"limits": {"val": 0}})
    result = asyncio.run(run(str(db), run_id="noval", cfg=cfg))
    assert RunStore(Database(db)).count_episodes("noval", phase="val") == 0 and result.state.val == []
    head = LibraryStore(db).versions("noval")[-1]
    assert result.state.checkpoint == head.number and HELPFUL in result.library.skills
    assert result.state.test["final"]["accuracy"] > result.state.test["no_skills"]["accuracy"]


def test_a_negative_split_limit_is_refused_with_its_field() -> None:
    from grasp.config import RunConfig

    with pytest.raises(ValueError, match="limits.val"):
        RunConfig.model_validate({"limits": {"val": -1}})


class _Interrupted(BaseException):
    """Stands for a process stopped in the middle of a run."""


def test_a_resumed_run_runs_the_tasks_it_drew_even_when_the_draw_has_changed(tmp_path: Path, monkeypatch) -> None:
    from environments.arithmetic import ArithmeticEnvironment
    from grasp.errors import ConfigError
    from grasp.improve import improve
    from grasp.models import ScriptedModel
    from grasp.store import Database
    from grasp.store.runs import RunStore

    from . import scripted_run

    db = tmp_path / "g.db"
    cfg = config(candidates=1, epochs=1).model_copy(update={"limits": {"dev": 8, "val": 4, "test": 6}})
    environment = ArithmeticEnvironment(seed=1, per_split=18)
    answers = scripted_run.answer
    calls = {"n": 0}

    def stopping(messages: list[dict[str, str]]) -> str:
        calls["n"] += 1
        if calls["n"] == 12:
            raise _Interrupted
        return answers(messages)

    def proposer():
        return scripted_run.proposer(scripted_run.DEFAULT_PROPOSALS, by_seed=cfg.seed)

    with pytest.raises(_Interrupted):
        asyncio.run(improve(environment, ScriptedModel(stopping, name="stopping"), cfg, db=str(db),
                            proposer=proposer(), run_id="drawn"))
    runs = RunStore(Database(db))
    drawn = runs.get("drawn").state["drawn"]
    assert len(drawn["dev"]) == 8 and len(drawn["val"]) == 4 and len(drawn["test"]) == 6

    # A task that is gone from the environment is named, not silently dropped.
    info = runs.get("drawn")
    gone = {**info.state, "drawn": {**drawn, "dev": [*drawn["dev"], "dev-gone-99"]}}
    runs.update("drawn", state=gone)
    with pytest.raises(ConfigError, match="dev-gone-99"):
        asyncio.run(improve(environment, ScriptedModel(answers, name="stopping"), cfg, db=str(db),
                            proposer=proposer(), resume="drawn"))
    runs.update("drawn", state=info.state)

    # The grasp that resumes draws differently (another sampler, a changed limit): the run keeps its tasks.
    import importlib

    loop = importlib.import_module("grasp.improve.loop")  # (the package's name is also its function's)
    monkeypatch.setattr(loop, "balanced_sample", lambda tasks, count, **_: list(tasks)[-count:])
    result = asyncio.run(improve(environment, ScriptedModel(answers, name="stopping"), cfg, db=str(db),
                                 proposer=proposer(), resume="drawn"))
    assert result.state.drawn == drawn
    ran = {e.task_id for e in runs.episodes("drawn", phase="train", key_prefix="train:")}
    assert ran and ran <= set(drawn["dev"])
    assert {e.task_id for e in runs.episodes("drawn", phase="test", key_prefix="test:")} == set(drawn["test"])
