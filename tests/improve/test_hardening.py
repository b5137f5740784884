"""Issue 10: no input ends a run, settings take effect, and a run is what its record says."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from environments.arithmetic import ArithmeticEnvironment
from grasp.agent.loop import run_episode
from grasp.config import GateConfig, LoopConfig, RunConfig
from grasp.edits import Edit, EditKind
from grasp.environment import Episode, Session, Step
from grasp.errors import ConfigError, ModelUnavailable, ValidationError
from grasp.improve import improve
from grasp.improve.gate import GateRule, tally
from grasp.models import MeteredModel, ScriptedModel
from grasp.skills import Skill
from grasp.store import Database, LibraryStore
from grasp.store.runs import ReplyCache, RunStore
from grasp.tasks import Grade, Task

from .scripted_run import DEFAULT_PROPOSALS, config, executor, proposal, proposer, run


class RaisingEnvironment(ArithmeticEnvironment):
    """Arithmetic, except that its sessions raise what a buggy environment might."""

    def __init__(self, where: str) -> None:
        super().__init__(seed=1, per_split=6)
        self.where = where

    async def open(self, task: Task) -> Session:
        if self.where == "open":
            raise KeyError("no such task family")
        inner = await super().open(task)
        where = self.where

        class Raising(Session):
            async def step(self, reply: str) -> Step:
                if where == "step":
                    raise OverflowError("date value out of range")
                return await inner.step(reply)

            async def grade(self, answer: list[Any] | None) -> Grade:
                if where == "grade":
                    raise ValueError("year 10000 is out of range")
                return await inner.grade(answer)

        return Raising()


@pytest.mark.parametrize("where, kind", [("open", "KeyError"), ("step", "OverflowError"), ("grade", "ValueError")])
def test_an_exception_from_a_session_or_grader_is_an_errored_episode(where: str, kind: str) -> None:
    environment = RaisingEnvironment(where)
    task = environment.tasks("dev")[0]
    episode = asyncio.run(run_episode(environment, task, ScriptedModel(["ANSWER: 1"]), []))
    assert not episode.passed and episode.error is not None and episode.error.startswith(kind)
    assert episode.reason.startswith("errored")


def test_an_improve_run_goes_on_when_every_session_raises(tmp_path: Path) -> None:
    result = asyncio.run(improve(RaisingEnvironment("step"), executor(), config(), db=tmp_path / "g.db",
                                 proposer=proposer(DEFAULT_PROPOSALS)))
    assert result.state.finished_training and result.state.test
    stored = RunStore(Database(tmp_path / "g.db")).episodes(result.run_id)
    assert stored and all(e.error and e.error.startswith("OverflowError") for e in stored)


def _episode(task_id: str, *, passed: bool, error: str | None = None) -> Episode:
    return Episode(task_id=task_id, family="f", passed=passed, error=error)


def test_an_error_only_under_the_candidate_on_a_passing_item_is_a_regression() -> None:
    baseline = [_episode("a", passed=True), _episode("b", passed=False), _episode("c", passed=False, error="x")]
    candidate = [_episode("a", passed=False, error="context overflow"), _episode("b", passed=False, error="x"),
                 _episode("c", passed=False, error="x")]
    result = tally(baseline, candidate, GateRule())
    assert result.regressions == 1 and result.fixes == 0 and result.score == -1
    assert result.items[0].after_error and result.items[2].after is None  # errored under both: neutral


def test_an_error_at_baseline_is_neutral_whatever_the_candidate_does() -> None:
    baseline = [_episode("a", passed=False, error="timeout")]
    assert tally(baseline, [_episode("a", passed=True)], GateRule()).score == 0


def test_an_outage_while_proposing_pauses_the_run_and_resume_finishes_it(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    replay = proposer(DEFAULT_PROPOSALS)
    calls = {"n": 0}

    async def down_once(messages: list[dict[str, str]]) -> str:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ModelUnavailable("proposer endpoint down after every retry")
        return (await replay.chat(messages)).text

    flaky = ScriptedModel(down_once, name="replay-proposer")
    with pytest.raises(ModelUnavailable):
        asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=18), executor(), config(candidates=1, epochs=2),
                            db=db, proposer=flaky, run_id="r1"))
    library = LibraryStore(db)
    assert not [d for d in library.decisions("r1") if "unusable" in d.evidence.reason]  # not swallowed as a refusal
    resumed = asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=18), executor(), db=db, proposer=flaky,
                                  resume="r1"))
    assert resumed.counts.accepted >= 1 and RunStore(Database(db)).get("r1").status == "finished"


def test_the_model_config_decides_the_reply_length_not_a_constant() -> None:
    model = ScriptedModel(["ANSWER: 1"])
    environment = ArithmeticEnvironment(seed=1, per_split=3)
    asyncio.run(run_episode(environment, environment.tasks("dev")[0], model, []))
    assert model.options[0]["max_tokens"] is None  # the model's own max_tokens applies


def test_the_environment_round_limit_applies_when_the_config_names_none(tmp_path: Path) -> None:
    environment = ArithmeticEnvironment(seed=1, per_split=6)
    environment.max_rounds = 2
    stalling = ScriptedModel(lambda messages: "CALC: 1 + 1", name="stalling")
    cfg = RunConfig(environment="arithmetic", epochs=1, batch_size=6, probe_size=2, limits={"dev": None, "val": None, "test": None},
                    advanced={"loop": {"candidates": 0}, "gate": {"probe_pool": 0}})
    result = asyncio.run(improve(environment, stalling, cfg, db=tmp_path / "g.db", proposer=proposer([])))
    episodes = RunStore(Database(tmp_path / "g.db")).episodes(result.run_id)
    assert episodes and {e.rounds for e in episodes} == {2}


def test_an_existing_library_with_another_capacity_is_refused_with_a_message(tmp_path: Path) -> None:
    LibraryStore(tmp_path / "g.db").create("shared", capacity=4)
    cfg = config().model_copy(update={"library": "shared", "capacity": 10})
    with pytest.raises(ValidationError, match="exists with capacity 4, but 10 was asked for"):
        asyncio.run(improve(ArithmeticEnvironment(seed=1), executor(), cfg, db=tmp_path / "g.db",
                            proposer=proposer([])))
    assert RunStore(Database(tmp_path / "g.db")).list() == []  # refused before a run record exists


def test_the_record_names_what_ran_and_a_resume_with_something_else_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    result = asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=6), executor(), RunConfig(
        epochs=1, batch_size=6, probe_size=2, limits={"dev": None, "val": None, "test": None}, advanced={"gate": {"probe_pool": 0}}), db=db,
        proposer=proposer(DEFAULT_PROPOSALS), run_id="r1"))
    info = RunStore(Database(db)).get("r1")
    assert info.environment == "arithmetic" and info.config["environment"] == "arithmetic"  # not the default "fhir"
    assert result.state.identity["executor"] == "scripted:skill-aware-executor"
    other = ScriptedModel(lambda messages: "ANSWER: 0", name="another-model")
    with pytest.raises(ConfigError, match="executor: recorded 'scripted:skill-aware-executor', now "
                                          "'scripted:another-model'"):
        asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=6), other, db=db,
                            proposer=proposer([]), resume="r1"))
    forced = asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=6), other, db=db, proposer=proposer([]),
                                 resume="r1", force=True))
    assert any(note.startswith("resumed with --force despite") for note in forced.state.notes)


def test_two_endpoints_that_share_a_model_name_do_not_share_cached_replies(tmp_path: Path) -> None:
    cache = ReplyCache(Database(tmp_path / "g.db"))
    first, second = ScriptedModel(["one"], name="same"), ScriptedModel(["two"], name="same")
    first.identity, second.identity = "same@http://a/v1/", "same@http://b/v1/"
    messages = [{"role": "user", "content": "hi"}]
    assert asyncio.run(MeteredModel(first, role="executor", cache=cache).chat(messages)).text == "one"
    again = asyncio.run(MeteredModel(second, role="executor", cache=cache).chat(messages))
    assert again.text == "two" and not again.cached
    replay = ScriptedModel([], name="same")
    replay.identity = "same@http://a/v1/"
    assert asyncio.run(MeteredModel(replay, role="executor", cache=cache).chat(messages)).cached


def _invalid_proposals() -> list[str]:
    return ['{"action": "ADD"}', proposal("x", "short")]  # unparsable, then a too-short description


def test_invalid_proposals_are_decisions_of_the_run_and_counted_once(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    result = asyncio.run(run(str(db), run_id="r1", proposals=_invalid_proposals() * 8,
                             cfg=config(candidates=1, epochs=1)))
    decisions = LibraryStore(db).decisions("r1", run_id="r1")
    invalid = [d for d in decisions if d.stage == "invalid"]
    assert invalid and all(d.run_id == "r1" for d in invalid)
    assert result.counts.refused == sum(1 for d in decisions if d.result_version is None)
    # A resume re-enters nothing that was decided: counts and decisions stay as they were.
    RunStore(Database(db)).update("r1", status="interrupted")
    resumed = asyncio.run(run(str(db), resume="r1"))
    assert len(LibraryStore(db).decisions("r1", run_id="r1")) == len(decisions)
    assert resumed.counts == result.counts


def test_the_epoch_0_val_point_is_stored_once_when_a_resume_repeats_the_baseline(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    asyncio.run(run(str(db), run_id="r1", cfg=config(candidates=1, epochs=1)))
    runs = RunStore(Database(db))
    state = runs.get("r1").state
    runs.update("r1", status="interrupted", state={**state, "baseline_done": False, "finished_training": False,
                                                   "epoch": 1, "batch": 0})
    resumed = asyncio.run(run(str(db), resume="r1"))
    assert [point.epoch for point in resumed.state.val].count(0) == 1


def test_valid_candidates_get_a_decision_when_no_probe_can_be_drawn(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    cfg = config(candidates=1, epochs=1, batch_size=18, gate={"probe_size": 4})
    cfg = cfg.model_copy(update={"limits": {**cfg.limits, "dev": 2}})  # no pool, all dev in the batch
    asyncio.run(run(str(db), run_id="r1", cfg=cfg))
    reasons = [d.evidence.reason for d in LibraryStore(db).decisions("r1", run_id="r1")]
    assert reasons and any(reason.startswith("not judged: no probe items") for reason in reasons)


def test_collapse_recovery_does_not_fire_when_no_skills_score_as_low(tmp_path: Path) -> None:
    """A weak executor (0% without skills) keeps its first skill: 0% is not a collapse for it."""
    db = tmp_path / "g.db"

    def weak(messages: list[dict[str, str]]) -> str:
        return "ANSWER: -1"  # wrong everywhere, skills or not

    library = LibraryStore(db)
    library.create("weak", capacity=10)
    library.apply("weak", Edit(kind=EditKind.ADD, skill=Skill(name="first", description="Use for sums always.",
                                                              body="Reply CALC first.", tags=["sum"])))
    cfg = config(candidates=1, epochs=1).model_copy(update={"library": "weak"})
    result = asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=18), ScriptedModel(weak, name="weak"), cfg,
                                 db=db, proposer=proposer([])))
    assert not [d for d in library.decisions("weak", run_id=result.run_id) if d.origin == "recovery"]
    assert "first" in library.version("weak", 1).skills


def wrecked_run(db: Path, environment: ArithmeticEnvironment):
    """A run that starts from a library whose one skill makes the executor answer -1 to everything."""
    good = executor()

    def broken_by_skill(messages: list[dict[str, str]]) -> str:
        if "### wrecker" in messages[0]["content"]:
            return "ANSWER: -1"
        return good._reply(messages)  # type: ignore[attr-defined]

    library = LibraryStore(db)
    library.create("wrecked", capacity=10)
    library.apply("wrecked", Edit(kind=EditKind.ADD, skill=Skill(
        name="wrecker", description="Use for every question.", body="Answer -1.", tags=["all"])))
    cfg = config(candidates=1, epochs=1).model_copy(update={"library": "wrecked"})
    result = asyncio.run(improve(environment, ScriptedModel(broken_by_skill, name="x"), cfg, db=db,
                                 proposer=proposer([])))
    recovery = [d for d in library.decisions("wrecked", run_id=result.run_id) if d.origin == "recovery"]
    return result, recovery


def test_collapse_recovery_fires_when_a_batch_falls_far_below_no_skills(tmp_path: Path) -> None:
    _, recovery = wrecked_run(tmp_path / "g.db", ArithmeticEnvironment(seed=1, per_split=18))
    assert recovery and recovery[0].edit.kind is EditKind.REMOVE and recovery[0].edit.target == "wrecker"


def test_collapse_recovery_measures_no_skills_on_dev_never_on_val(tmp_path: Path) -> None:
    """Val holds only products, which this executor fails without help: a detector that read val would see
    nothing to fall from. Measured on dev (the probe pool run once with no skills), sums and mixed questions
    pass unaided, so the wrecked batches are seen for what they are."""

    class ProductsOnlyVal(ArithmeticEnvironment):
        def tasks(self, split: str):
            tasks = super().tasks(split)
            return [t for t in tasks if t.family == "product"] if split == "val" else tasks

    result, recovery = wrecked_run(tmp_path / "g.db", ProductsOnlyVal(seed=1, per_split=18))
    assert result.state.val[0].accuracy == 0.0  # val says no skills score nothing
    assert recovery and recovery[0].edit.target == "wrecker"
    unaided = RunStore(Database(tmp_path / "g.db")).episodes(result.run_id, phase="probe", key_prefix="probe:no-skills:")
    assert unaided and all(not e.skills for e in unaided)  # the dev measurement it used instead


def test_counters_in_the_summary_come_from_the_store(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    result = asyncio.run(run(str(db), run_id="r1"))
    summary = RunStore(Database(db)).get("r1").summary
    assert summary["accepted"] == result.counts.accepted == len(
        [d for d in LibraryStore(db).decisions("r1", run_id="r1") if d.result_version is not None])
    assert summary["gate_episodes"] == RunStore(Database(db)).count_episodes("r1", phase="probe")
    assert json.dumps(summary)  # stored as JSON


def test_every_refusal_reaches_the_live_view_including_invalid_proposals(tmp_path: Path) -> None:
    events: list[tuple[str, dict]] = []
    result = asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=18), executor(), config(candidates=2),
                                 db=tmp_path / "g.db", proposer=proposer(_invalid_proposals() + DEFAULT_PROPOSALS),
                                 on_event=lambda kind, data: events.append((kind, data))))
    refused = [data for kind, data in events if kind == "refused"]
    assert any(data["stage"] == "invalid" for data in refused)
    assert len(refused) == result.counts.refused
    assert len([1 for kind, _ in events if kind == "accepted"]) == result.counts.accepted


def test_a_run_recorded_with_unknown_settings_is_refused_in_one_line_on_resume(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    asyncio.run(run(str(db), run_id="r1", cfg=config(candidates=1, epochs=1)))
    runs = RunStore(Database(db))
    old = runs.get("r1").config
    runs.update("r1", status="interrupted", config={**old, "advanced": {**old["advanced"], "collapse_threshold": 0.05}})
    with pytest.raises(ConfigError, match="run r1 was recorded with a config this grasp cannot read"):
        asyncio.run(run(str(db), resume="r1"))


def test_a_second_run_into_a_library_another_run_learned_into_is_refused(tmp_path: Path) -> None:
    from grasp.errors import ConfigError

    from .scripted_run import DEFAULT_PROPOSALS, config, executor, proposer

    db = tmp_path / "g.db"
    cfg = config(candidates=1, epochs=1).model_copy(update={"library": "shared"})
    first = asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=18), executor(), cfg, db=db,
                                proposer=proposer(DEFAULT_PROPOSALS, by_seed=3), run_id="one"))
    assert first.library.number > 0  # it learned something, so a second run would inherit it
    with pytest.raises(ConfigError, match="already holds skills that run one learned"):
        asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=18), executor(), cfg.model_copy(update={"seed": 4}),
                            db=db, proposer=proposer(DEFAULT_PROPOSALS, by_seed=4), run_id="two"))
    again = asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=18), executor(), cfg.model_copy(update={"seed": 4}),
                                db=db, proposer=proposer(DEFAULT_PROPOSALS, by_seed=4), run_id="two",
                                continue_library=True))
    assert again.library.number >= first.library.number
