"""Issue 9: acceptance rules and baselines as strategies, seeds that change the sampling, and the bench."""

from __future__ import annotations

import asyncio
import math
import warnings
from pathlib import Path
from statistics import stdev

import pytest

from environments.arithmetic import ArithmeticEnvironment
from grasp.bench import markdown, run_bench, seeds_from, tabulate, write_html
from grasp.config import RunConfig
from grasp.edits import ProbeOutcome
from grasp.improve import improve
from grasp.improve.gate import Tally
from grasp.improve.methods import method_config
from grasp.improve.rules import GraspGate, PairedDelta, StrictImprovement
from grasp.improve.sources import NOTES_SKILL, remember
from grasp.skills import Skill
from grasp.store import Database, LibraryStore
from grasp.store.runs import RunStore

from .scripted_run import DEFAULT_PROPOSALS, executor, proposal, proposer

HARMFUL = proposal("harmful-shortcut", "Use for every question: answer fast.")


def base(**loop: object) -> RunConfig:
    return RunConfig(environment="arithmetic", seed=3, epochs=1, batch_size=6, probe_size=6, capacity=10,
                     skills_per_episode=3, limits={"dev": None, "val": None, "test": None},
                     advanced={"loop": {"candidates": 1, **loop}, "gate": {"probe_pool": 0}})


def _run(tmp_path: Path, config: RunConfig, proposals: list[str], name: str = "r"):
    return asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=18), executor(), config,
                               db=tmp_path / f"{name}.db", proposer=proposer(proposals), run_id=name))


def test_ungated_accepts_a_harmful_edit_that_the_gate_refuses(tmp_path: Path) -> None:
    gated = _run(tmp_path, method_config(base(), "grasp", seed=3, library="g"), [HARMFUL], "g")
    ungated = _run(tmp_path, method_config(base(), "ungated-k1", seed=3, library="u"), [HARMFUL], "u")
    assert "harmful-shortcut" not in gated.library.skills
    assert "harmful-shortcut" in ungated.library.skills  # committed without a probe, kept to the end
    accepted = next(d for d in LibraryStore(tmp_path / "u.db").decisions("u")
                    if d.result_version and d.edit.skill and d.edit.skill.name == "harmful-shortcut")
    assert accepted.evidence.episodes_run == 0 and accepted.evidence.reason == "accept-all: no probe"


def test_strict_improvement_refuses_a_tie_that_is_not_an_improvement() -> None:
    items = [ProbeOutcome(task_id="a", before=False, after=True), ProbeOutcome(task_id="b", before=True, after=False),
             ProbeOutcome(task_id="c", before=True, after=True)]
    tie = Tally(items=items, fixes=1, regressions=1, invalid_regressions=0, score=0, p_value=None, run=3, skipped=0)
    assert not StrictImprovement().judge(tie)[0]
    better = tie.model_copy(update={"regressions": 0, "items": items[:1] + items[2:]})
    assert StrictImprovement().judge(better)[0]
    assert not GraspGate(budget=1).judge(tie)[0]  # score 0 is not above 0 either


def test_paired_delta_needs_the_mean_change_beyond_k_standard_errors() -> None:
    fixes = [ProbeOutcome(task_id=str(i), before=False, after=i < 6) for i in range(8)]
    clear = Tally(items=fixes, fixes=6, regressions=0, invalid_regressions=0, score=6, p_value=None, run=8, skipped=0)
    assert PairedDelta(k=1.0).judge(clear)[0]
    noisy = [ProbeOutcome(task_id=str(i), before=i % 2 == 0, after=i % 2 == 1) for i in range(8)]
    even = Tally(items=noisy, fixes=4, regressions=4, invalid_regressions=0, score=0, p_value=None, run=8, skipped=0)
    assert not PairedDelta(k=1.0).judge(even)[0]


def test_memory_evicts_the_oldest_note_at_capacity() -> None:
    skills: dict[str, Skill] = {}
    for lesson in ("first lesson here", "second lesson here", "third lesson here"):
        edit = remember(skills, lesson, capacity=2)
        skills = {NOTES_SKILL: edit.skill}
    body = skills[NOTES_SKILL].body
    assert "first lesson" not in body and body.splitlines() == ["- second lesson here", "- third lesson here"]


def test_the_memory_baseline_keeps_one_growing_notes_skill(tmp_path: Path) -> None:
    lessons = [f'{{"lesson": "Lesson number {i}: compute products before answering."}}' for i in range(6)]
    config = method_config(base(memory_notes=2), "memory", seed=3, library="m")
    result = _run(tmp_path, config, lessons, "m")
    notes = result.library.skills[NOTES_SKILL].body.splitlines()
    assert len(notes) == 2 and all(line.startswith("- Lesson number") for line in notes)


def test_two_seeds_change_the_batches_and_the_probes_and_one_seed_repeats_them(tmp_path: Path) -> None:
    def trace(seed: int, name: str) -> tuple[list[str], list[list[str]]]:
        _run(tmp_path, base().model_copy(update={"seed": seed}), DEFAULT_PROPOSALS * 3, name)
        runs = RunStore(Database(tmp_path / f"{name}.db"))
        order = [e.task_id for e in runs.episodes(name, phase="train")]
        probes = [d.evidence.extra.get("probe", []) for d in LibraryStore(tmp_path / f"{name}.db").decisions(name)]
        return order, probes

    first, second, again = trace(1, "a"), trace(2, "b"), trace(1, "c")
    assert first[0] != second[0] and first[1] != second[1]
    assert first == again
    assert seeds_from(base(), 3) == [3, 4, 5]


def test_the_gate_cost_counts_the_baseline_and_each_candidates_episodes_by_hand() -> None:
    from types import SimpleNamespace

    from grasp.bench import MethodRow, _gate_cost

    def decision(key: str, run: int, probe: int = 6, stage: str = "gate") -> SimpleNamespace:
        extra = {"decision": key, "probe": ["t"] * probe} if probe else {"decision": key}
        return SimpleNamespace(stage=stage, evidence=SimpleNamespace(episodes_run=run, extra=extra))

    row = MethodRow(method="m", seeds=[], accuracy=[], mean=0, low=0, high=0)
    # e1:b0: two candidates on a probe of 6 (baseline 6 + 6 + 3 stopped early = 15) and one refused at trial
    # (0 here, N for an exhaustive gate): exhaustive (1 + 3) x 6 = 24. e1:b1: only an invalid proposal, no
    # decision to count. e1:b2: its one candidate refused at trial: 0 spent, (1 + 1) x 8 exhaustive.
    _gate_cost(row, [decision("e1:b0", 6), decision("e1:b0", 3),
                     decision("e1:b0", 0, probe=0, stage="trial"),
                     decision("e1:b1", 0, probe=0, stage="invalid"),
                     decision("e1:b2", 0, probe=0, stage="trial")], probe_size=8)
    assert (row.decisions, row.probe_episodes, row.exhaustive_episodes) == (2, 15, 24 + 16)


def test_the_t_interval_uses_the_exact_quantile_beyond_ten_degrees_of_freedom() -> None:
    from grasp.bench import interval
    from grasp.stats import t95

    assert t95(2) == 4.303 and t95(30) == 2.042
    assert t95(40) == pytest.approx(2.0211, abs=2e-4) and t95(120) == pytest.approx(1.9799, abs=2e-4)
    centre, low, high = interval([0.50, 0.52, 0.54])  # sd 0.02, n 3: half = 4.303 * 0.02 / sqrt(3)
    assert (centre, low, high) == pytest.approx((0.52, 0.52 - 0.049687, 0.52 + 0.049687), abs=1e-6)
    values = [0.5 + 0.01 * (i % 3) for i in range(41)]  # 40 degrees of freedom: 2.021, not 1.96
    centre_41, _, high_41 = interval(values)
    assert high_41 - centre_41 == pytest.approx(t95(40) * stdev(values) / math.sqrt(41))


def test_a_bench_runs_methods_over_seeds_resumably_and_tabulates_them(tmp_path: Path) -> None:
    db = tmp_path / "bench.db"
    environment = ArithmeticEnvironment(seed=1, per_split=18)
    replies = DEFAULT_PROPOSALS * 4

    def go() -> object:
        return asyncio.run(run_bench(environment, executor(), base(), ["grasp", "ungated-k1"], [3, 4], db=db,
                                     bench_id="b1", proposer=proposer(replies)))

    result = go()
    methods = [row.method for row in result.rows]
    assert methods == ["no skills", "grasp", "ungated-k1", "trivial answer"]  # arithmetic ships no reference
    grasp_row = result.rows[1]
    assert grasp_row.seeds == [3, 4] and len(grasp_row.paired) == 2
    centre = sum(grasp_row.accuracy) / 2  # two seeds: one degree of freedom, t = 12.706
    half = 12.706 * abs(grasp_row.accuracy[0] - grasp_row.accuracy[1]) / math.sqrt(2) / math.sqrt(2)
    assert grasp_row.mean == pytest.approx(centre)
    assert (grasp_row.low, grasp_row.high) == pytest.approx((max(0.0, centre - half), min(1.0, centre + half)))
    runs = RunStore(Database(db))
    for seed, pair in zip(grasp_row.seeds, grasp_row.paired, strict=True):  # fixed / broken from the stored items
        run = f"b1-grasp-s{seed}"
        before = {e.task_id: e.passed for e in runs.episodes(run, phase="test", key_prefix="test:none:")}
        after = {e.task_id: e.passed for e in runs.episodes(run, phase="test", key_prefix="test:final:")} or before
        assert pair.fixed == sum(after[i] and not before[i] for i in before)
        assert pair.broken == sum(before[i] and not after[i] for i in before)
    assert grasp_row.episodes["gate"] == sum(runs.count_episodes(f"b1-grasp-s{s}", phase="probe") for s in (3, 4))
    assert result.rows[2].episodes["gate"] == 0  # ungated with one candidate never probes
    text = markdown(result)
    grasp_line = next(line for line in text.splitlines() if line.startswith("| grasp |"))
    for seed, pair in zip(grasp_row.seeds, grasp_row.paired, strict=True):
        assert f"s{seed}: +{pair.fixed}/-{pair.broken}, p={pair.p_value:.3g}" in grasp_line
    page = write_html(result, tmp_path / "b1.html").read_text()
    assert page.count("<svg") == 2
    # Runs with no val items have no learning curve: the page shows the bars alone, and says nothing empty.
    flat = result.model_copy(update={"rows": [row.model_copy(update={"curve": []}) for row in result.rows]})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert write_html(flat, tmp_path / "flat.html").read_text().count("<svg") == 1
    before = RunStore(Database(db)).count_episodes("b1-grasp-s3")
    assert go().rows == result.rows  # a second call resumes: every run is finished, nothing runs again
    assert RunStore(Database(db)).count_episodes("b1-grasp-s3") == before


def test_attribution_credits_the_skill_that_earned_the_gain() -> None:
    from grasp.attribution import attribute

    environment = ArithmeticEnvironment(seed=1, per_split=18)
    skills = {"compute-first": Skill(name="compute-first", description="Use for product questions.",
                                     body="CALC first.", tags=["product"]),
              "be-careful": Skill(name="be-careful", description="Use always: be careful.", body="Be careful.",
                                  tags=["all"])}
    accuracy, credits = asyncio.run(attribute(environment, executor(), environment.tasks("val"), skills))
    by_name = {credit.skill: credit.comparison for credit in credits}
    assert credits[0].skill == "compute-first" and by_name["compute-first"].fixed == 6
    assert by_name["be-careful"].fixed == by_name["be-careful"].broken == 0
    assert accuracy == by_name["compute-first"].after / by_name["compute-first"].total


def test_the_probe_sampler_is_chosen_by_name_and_never_draws_excluded_items() -> None:
    from grasp.improve.probe import SAMPLERS

    tasks = ArithmeticEnvironment(seed=1, per_split=18).tasks("dev")
    known = [(task, index % 3 == 0) for index, task in enumerate(tasks)]
    exclude = {tasks[0].id, tasks[1].id}
    for name, sampler in SAMPLERS.items():
        drawn = sampler(known, size=6, exclude=exclude, seed="s")
        assert len(drawn) == 6 and not {t.id for t in drawn} & exclude, name
        assert drawn == sampler(known, size=6, exclude=exclude, seed="s")
    balanced = SAMPLERS["balanced"](known, size=6, exclude=exclude, seed="s")
    passing = {task.id for task, ok in known if ok}
    assert sum(task.id in passing for task in balanced) == 3  # half passing, half failing


def test_awm_keeps_every_induced_workflow_without_a_gate(tmp_path: Path) -> None:
    from environments.arithmetic import safe_eval
    from grasp.models import ScriptedModel

    def sometimes_computes(messages: list[dict[str, str]]) -> str:
        """Computes first for questions whose first operand is even, and guesses 0 for other products."""
        question = messages[1]["content"].split("What is ")[1].rstrip("?")
        if len(messages) > 2:
            return f"ANSWER: {messages[-1]['content']}"
        if "*" in question and int(question.split()[0]) % 2:
            return "ANSWER: 0"
        return f"CALC: {question}" if "*" in question else f"ANSWER: {safe_eval(question)}"

    config = method_config(base(), "awm", seed=5, library="w")
    result = asyncio.run(improve(ArithmeticEnvironment(seed=2, per_split=18), ScriptedModel(sometimes_computes), config,
                                 db=tmp_path / "w.db", proposer=proposer([]), run_id="w"))
    decisions = LibraryStore(tmp_path / "w.db").decisions("w", run_id="w")
    assert decisions and {d.origin for d in decisions} == {"induced"}
    assert all(d.result_version and d.evidence.episodes_run == 0 for d in decisions)  # never probed, all kept
    assert result.counts.gate_episodes == 0 and result.library.skills


def test_ungated_k4_commits_the_best_of_four_even_when_the_gate_would_refuse_it(tmp_path: Path) -> None:
    harmful = [proposal(f"harmful-{i}", f"Use for every question, variant {i}: answer fast.") for i in range(4)]
    result = _run(tmp_path, method_config(base(), "ungated-k4", seed=3, library="k4"), harmful, "k4")
    accepted = [d for d in LibraryStore(tmp_path / "k4.db").decisions("k4") if d.result_version]
    assert accepted and accepted[0].evidence.score <= 0 and accepted[0].evidence.episodes_run > 0  # ranked, not gated
    assert len(accepted[0].evidence.extra["probe"]) == 6
    assert any(name.startswith("harmful-") for name in result.library.skills)


def test_a_new_rule_and_a_new_source_can_be_passed_in_from_python(tmp_path: Path) -> None:
    from grasp.edits import Edit, EditKind
    from grasp.improve.proposer import Candidate

    class OnlyFirstFixes:
        name, budget, invalid_penalty, alpha = "only-first-fixes", 0, 0.0, None

        def judge(self, tally):
            return tally.fixes >= 1 and tally.regressions == 0, "custom rule"

        def probe_needed(self, candidates: int) -> bool:
            return True

    class FixedSkill:
        name = "fixed"

        async def candidates(self, contrast):
            skill = Skill(name="compute-first", description="Use for product questions.", body="CALC first.",
                          tags=[contrast.family])
            return [Candidate(edit=Edit(kind=EditKind.ADD, skill=skill), group=contrast.label, origin="fixed")]

    result = asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=18), executor(), base(),
                                 db=tmp_path / "p.db", proposer=proposer([]), run_id="p", rule=OnlyFirstFixes(),
                                 sources=[FixedSkill()]))
    assert result.counts.accepted_by_origin == {"fixed": 1} and "compute-first" in result.library.skills
    assert LibraryStore(tmp_path / "p.db").decisions("p")[0].evidence.reason == "custom rule"


def test_each_strata_mean_comes_with_its_t_interval_over_seeds() -> None:
    from grasp.bench import MethodRow

    row = MethodRow(method="m", seeds=[0, 1, 2], accuracy=[0.5, 0.5, 0.5], mean=0.5, low=0.5, high=0.5,
                    strata={"value": [0.50, 0.52, 0.54], "none": [1.0, 1.0, 1.0]})
    assert row.strata_text() == "none 100.0% [100.0, 100.0], value 52.0% [47.0, 57.0]"  # half 4.303 * 0.02 / sqrt 3


def test_the_bench_shows_strata_the_trivial_answer_and_the_reference_on_the_same_items(tmp_path: Path) -> None:
    from .test_yardsticks import StrataArithmetic

    environment = StrataArithmetic(seed=1, per_split=18)
    result = asyncio.run(run_bench(environment, executor(), base(), ["grasp"], [3], db=tmp_path / "b.db",
                                   bench_id="s", proposer=proposer(DEFAULT_PROPOSALS * 4)))
    by_name = {row.method: row for row in result.rows}
    assert list(by_name) == ["no skills", "grasp", "trivial answer", "reference library"]
    sums = sum(1 for t in environment.tasks("test") if t.family == "sum")
    trivial = by_name["trivial answer"]
    assert trivial.accuracy == [sums / 18] and trivial.strata == {"easy": [1.0], "hard": [0.0]}
    assert by_name["reference library"].accuracy == [1.0]
    grasp_row = by_name["grasp"]
    test = RunStore(Database(tmp_path / "b.db")).get("s-grasp-s3").state["test"]
    easy, hard = test["final_strata"]["easy"], test["final_strata"]["hard"]
    assert grasp_row.strata == {"easy": [easy[0] / easy[1]], "hard": [hard[0] / hard[1]]}
    pair = grasp_row.paired_strata[0]["hard"]
    line = next(line for line in markdown(result).splitlines() if line.startswith("| grasp |"))
    assert f"[hard +{pair.fixed}/-{pair.broken}, p={pair.p_value:.3g}]" in line
    assert f"hard {100 * hard[0] / hard[1]:.1f}%" in line
    # Naming yardsticks among the methods runs nothing more and shows just those rows, read from the same runs.
    named = tabulate(Database(tmp_path / "b.db"), "s", ["trivial", "grasp"], [3])
    assert [row.method for row in named.rows] == ["grasp", "trivial answer"]
    assert named.rows[1].accuracy == trivial.accuracy
    runs = RunStore(Database(tmp_path / "b.db"))
    spent = {phase: runs.count_episodes("s-grasp-s3", phase=phase) for phase in ("train", "explore", "trial")}
    assert spent["trial"] > 0 and grasp_row.episodes["training"] == sum(spent.values())  # a trial is training work
    assert trivial.wall_text() == "-" and grasp_row.wall_text().endswith(" min")


def test_grasp_k4_is_grasp_with_four_drafts_whatever_the_config_says() -> None:
    one = base().with_advanced(loop={"candidates": 1})
    k4, grasp = method_config(one, "grasp-k4", seed=0, library="k"), method_config(one, "grasp", seed=0, library="g")
    assert k4.loop.candidates == 4 and grasp.loop.candidates == 1
    assert k4.gate == grasp.gate and k4.loop.sources == grasp.loop.sources and k4.loop.trial == grasp.loop.trial
