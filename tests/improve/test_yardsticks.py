"""Strata, the trivial answer and the reference library: accounting checked against counts made by hand."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from environments.arithmetic import ArithmeticEnvironment
from grasp.improve import improve
from grasp.skills import Skill
from grasp.store import Database
from grasp.store.runs import RunStore
from grasp.tasks import Task
from grasp.yardsticks import Score, paired_by_stratum, recovered, score, sealed_lines, summary

from .scripted_run import DEFAULT_PROPOSALS, HELPFUL, config, executor, proposer


class StrataArithmetic(ArithmeticEnvironment):
    """Sums are the "easy" stratum, where a do-nothing policy happens to be right (like FHIR's "none"
    items); the reference library holds the one skill the scripted executor needs for products."""

    def stratum(self, task: Task) -> str:
        return "easy" if task.family == "sum" else "hard"

    def trivial_answer(self, task: Task) -> list[Any] | None:
        return [task.solution["expected"]] if task.family == "sum" else [-1]

    def reference_library(self) -> list[Skill]:
        return [Skill(name=HELPFUL, description="Use for product questions: compute with CALC before answering.",
                      body="Reply CALC: <expression>, then ANSWER: <value>.", tags=["product", "mixed"])]


def test_score_and_paired_strata_on_a_case_counted_by_hand() -> None:
    strata = {"a": "none", "b": "none", "c": "value", "d": "value", "e": "value"}
    before = {"a": True, "b": True, "c": False, "d": False, "e": True}
    after = {"a": True, "b": False, "c": True, "d": True, "e": True}
    assert score(before, strata) == Score(passed=3, total=5, strata={"none": [2, 2], "value": [1, 3]})
    pairs = paired_by_stratum(before, after, strata)
    assert (pairs["value"].before, pairs["value"].after, pairs["value"].fixed, pairs["value"].broken) == (1, 3, 2, 0)
    assert (pairs["none"].before, pairs["none"].after, pairs["none"].fixed, pairs["none"].broken) == (2, 1, 0, 1)
    assert pairs["value"].p_value == 0.5  # two discordant items, both fixed: 2 * (1/2)^2
    reference = score({"a": True, "b": True, "c": True, "d": True, "e": True}, strata)
    # value: no skills 1/3, final 3/3, reference 3/3 -> all of the lift; overall 3/5 -> 4/5 of a lift to 5/5
    assert recovered(score(before, strata), score(after, strata), reference, "value") == 1.0
    assert recovered(score(before, strata), score(after, strata), reference) == 0.5
    assert recovered(score(before, strata), score(after, strata), score(before, strata)) is None  # nothing to recover


def test_each_family_gets_its_own_paired_line_with_trivial_and_reference_counted_by_hand() -> None:
    environment = StrataArithmetic(seed=1, per_split=4)
    tasks = [task for task in environment.tasks("test") if task.family in ("sum", "product")]
    sums = [task.id for task in tasks if task.family == "sum"]
    products = [task.id for task in tasks if task.family == "product"]
    assert sums and products
    none = {i: i in sums for i in sums + products}               # sums pass, products fail
    final = {i: i != sums[0] for i in sums + products}           # every product fixed, one sum broken
    trivial = {i: i in sums for i in sums + products}
    reference = {i: True for i in sums + products}
    record = summary(tasks, environment, none, final, trivial, reference)
    product = record["families"]["product"]
    assert (product["paired"]["fixed"], product["paired"]["broken"], product["trivial"], product["reference"]) == (
        len(products), 0, 0, len(products))
    assert record["families"]["sum"]["paired"]["broken"] == 1
    lines = [line for line in sealed_lines(record) if line.startswith("sealed family ")]
    n = len(products)
    assert f"sealed family product: 0/{n} -> {n}/{n}, fixed {n}, broken 0" in lines[0]
    assert lines[0].endswith(f"trivial 0/{n}; reference {n}/{n}")
    assert lines[1].startswith(f"sealed family sum: {len(sums)}/{len(sums)} -> {len(sums) - 1}/{len(sums)}")
    one_family = summary([tasks[0]], environment, none, final, trivial, reference)
    assert "families" not in one_family  # one family: the overall lines already say it


def test_one_stratum_gives_no_per_stratum_lines() -> None:
    assert paired_by_stratum({"a": True}, {"a": False}, {"a": "all"}) == {}


def test_a_run_reports_strata_the_trivial_answer_and_the_reference_on_the_same_items(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    environment = StrataArithmetic(seed=1, per_split=18)
    result = asyncio.run(improve(environment, executor(), config(candidates=1, epochs=1), db=db,
                                 proposer=proposer(DEFAULT_PROPOSALS, by_seed=3), run_id="y"))
    test = result.state.test
    tasks = environment.tasks("test")
    sums = [t.id for t in tasks if t.family == "sum"]
    runs = RunStore(Database(db))
    none = {e.task_id: e.passed for e in runs.episodes("y", phase="test", key_prefix="test:none:")}
    reference = {e.task_id: e.passed for e in runs.episodes("y", phase="test", key_prefix="test:reference:")}
    assert set(none) == set(reference) == {t.id for t in tasks}  # the same items
    # The trivial answer is right on exactly the sums, and on nothing else; it ran no model.
    assert test["trivial"] == {"passed": len(sums), "total": len(tasks),
                               "strata": {"easy": [len(sums), len(sums)], "hard": [0, len(tasks) - len(sums)]}}
    # Per stratum, the paired counts are those of the stored episodes.
    hard = [t.id for t in tasks if t.family != "sum"]
    assert test["strata"]["hard"]["before"] == sum(none[i] for i in hard)
    assert test["strata"]["hard"]["total"] == len(hard) and test["strata"]["easy"]["total"] == len(sums)
    # The scripted executor needs the reference skill for products only: the reference passes everything.
    assert test["reference"]["passed"] == len(tasks) and all(reference.values())
    lines = sealed_lines(test)
    starts = [line.split(":")[0] for line in lines]
    assert starts == ["sealed test", "sealed test [easy]", "sealed test [hard]", "trivial answer", "reference library",
                      "sealed family mixed", "sealed family product", "sealed family sum"]
    assert lines[3].startswith(f"trivial answer: {len(sums)}/{len(tasks)} ")
    assert f"reference library: {len(tasks)}/{len(tasks)} (100%)" in lines[4]
    final_hard = test["strata"]["hard"]["after"]
    share = (final_hard - test["strata"]["hard"]["before"]) / (len(hard) - test["strata"]["hard"]["before"])
    assert test["recovered"]["hard"] == share


def test_the_reference_can_be_left_out(tmp_path: Path) -> None:
    cfg = config(candidates=1, epochs=1).with_advanced(reference=False)
    result = asyncio.run(improve(StrataArithmetic(seed=1, per_split=18), executor(), cfg, db=tmp_path / "g.db",
                                 proposer=proposer(DEFAULT_PROPOSALS, by_seed=3), run_id="n"))
    assert "reference" not in result.state.test and result.state.test["trivial"]["total"] == 18
    assert not RunStore(Database(tmp_path / "g.db")).episodes("n", key_prefix="test:reference:")


def test_the_learner_reads_the_yardsticks_only_where_they_belong(tmp_path: Path) -> None:
    """The trivial answer and the reference library are read by the sealed test alone; a task's own no-result
    answer (``Task.no_result``) is what the learner reads. The stratum is read by the sealed test and, for now, by
    the balanced draws of dev and the probe pool (not by anything that writes or judges a skill)."""
    import inspect

    readers: dict[str, set[str]] = {"trivial_answer": set(), "reference_library": set(), "stratum": set()}

    class Watched(StrataArithmetic):
        def trivial_answer(self, task):
            readers["trivial_answer"].add(inspect.stack()[1].frame.f_globals["__name__"])
            return super().trivial_answer(task)

        def reference_library(self):
            readers["reference_library"].add(inspect.stack()[1].frame.f_globals["__name__"])
            return super().reference_library()

        def stratum(self, task):
            readers["stratum"].add(inspect.stack()[1].frame.f_globals["__name__"])
            return super().stratum(task)

    asyncio.run(improve(Watched(seed=1, per_split=18), executor(), config(candidates=1, epochs=1),
                        db=tmp_path / "g.db", proposer=proposer(DEFAULT_PROPOSALS, by_seed=3), run_id="w"))
    assert readers["trivial_answer"] == {"grasp.yardsticks"} and readers["reference_library"] == {"grasp.improve.sealed"}
    assert readers["stratum"] <= {"grasp.yardsticks", "grasp.improve.sampling"}
