"""The refine loop: a trial on the batch, a rewrite from what happened, refusal before any probe, and
induction bootstrapped from a trial pass.

The scripted executor here reacts to what a skill *says*: products come out right only when an injected
skill's body tells it to CALC first; sums are always right. The scripted writer answers the first
proposal prompt with a skill that does not say so, and the rewrite request as each test needs.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from environments.arithmetic import ArithmeticEnvironment, safe_eval
from grasp.agent.selection import Selection, select_skills
from grasp.edits import Edit, EditKind
from grasp.environment import Episode, Hints, ProposerBrief
from grasp.improve import improve
from grasp.improve.proposer import Candidate
from grasp.improve.refine import FIXED_NONE, Refinement, Refiner
from grasp.models import ScriptedModel
from grasp.models.base import Model
from grasp.skills import Skill
from grasp.store import Database, LibraryStore
from grasp.store.runs import RunStore

from ..helpers import traced
from .scripted_run import config, proposal

USELESS = proposal("answer-products", "Use for product questions.", "Answer products quickly with your first guess.")
USEFUL = proposal("answer-products", "Use for product questions.",
                  "1. Send CALC: <A> * <B>.\n2. Answer ANSWER: <VALUE> with the computed value.")


def body_aware_executor() -> ScriptedModel:
    def reply(messages: list[dict[str, str]]) -> str:
        skills = messages[0]["content"].partition("Skills learned")[2]
        question = messages[1]["content"].split("What is ")[1].rstrip("?")
        if "*" in question and "CALC" not in skills:
            return "ANSWER: 0"
        if "*" in question and len(messages) == 2:
            return f"CALC: {question}"
        if "*" in question:
            return f"ANSWER: {messages[-1]['content'].strip()}"
        return f"ANSWER: {safe_eval(question)}"

    return ScriptedModel(reply, name="body-aware-executor")


def scripted_proposer(repair: str, prompts: list[str]) -> ScriptedModel:
    def reply(messages: list[dict[str, str]]) -> str:
        text = messages[-1]["content"]
        prompts.append(text)
        if "name reusable procedures" in messages[0]["content"]:
            return json.dumps({"name": "calc-products", "description": "Use when asked for a product.",
                               "advice": "Compute first."})
        if FIXED_NONE in text:
            return repair
        return USELESS

    return ScriptedModel(reply, name="trial-proposer")


def trial_run(tmp_path: Path, repair: str, refinements: int = 2) -> tuple[object, list[str], RunStore, list]:
    """An improve run with the body-aware executor, a writer answering each rewrite request with ``repair``."""
    db, prompts = tmp_path / "g.db", []
    result = asyncio.run(improve(ArithmeticEnvironment(seed=1, per_split=18), body_aware_executor(),
                                 trial_config(refinements),
                                 db=db, proposer=scripted_proposer(repair, prompts), run_id="t"))
    return result, prompts, RunStore(Database(db)), LibraryStore(db).decisions("t", run_id="t")


def calc_pass(task) -> Episode:
    """A passing episode of a product task: CALC accepted, then the answer."""
    question = task.instruction.split("What is ")[1].rstrip("?")
    value = safe_eval(question)
    return Episode(task_id=task.id, family=task.family, passed=True, answer=[value],
                   trace=traced((f"CALC: {question}", str(value), True), (f"ANSWER: {value}", "", True), answer=[value]))


def refine_once(environment, writer: Model, run, candidate: Candidate, task, skills: dict[str, Skill], *,
                budget: int, mask=lambda text: text, routing: str = "family") -> Candidate:
    """``candidate`` through one Refiner with its trial on ``task`` run by ``run``."""
    refiner = Refiner(environment, environment.hints() or Hints(), writer, run, budget=budget, trial=True, capacity=4,
                      seed=0, max_tokens=300, selection=Selection(k=2, routing=routing))
    on = Refinement(key="k", tasks=[task], skills=skills, family=task.family, mask=mask, forbidden=set(),
                    none_answers=([], []))
    return asyncio.run(refiner.refine(0, candidate, on))


def trial_config(refinements: int = 2):
    return config(candidates=1, epochs=1, trial=True, refinements=refinements)


@pytest.mark.parametrize("refinements", [2, 1])
def test_a_candidate_that_fixes_nothing_is_rewritten_from_outcomes_then_refused_with_no_probe(
        tmp_path: Path, refinements: int) -> None:
    result, prompts, runs, decisions = trial_run(tmp_path, USELESS, refinements)
    assert decisions and all(d.evidence.reason.startswith("refused at trial: fixed none") for d in decisions)
    assert f"after {refinements} rewrite(s)" in decisions[0].evidence.reason
    assert runs.count_episodes("t", phase="probe") == 0  # nothing reached the gate
    assert result.counts.refused_at_trial == len(decisions) and result.counts.gate_episodes == 0
    # Each try ran on the batch's failing products: the first proposal and each of its rewrites.
    trial = runs.episodes("t", phase="trial", key_prefix="trial:e1:b0:")
    family = trial[0].family
    batch_failures = {e.task_id for e in runs.episodes("t", phase="train", key_prefix="train:e1:b0:")
                      if not e.passed and e.family == family}
    assert {e.task_id for e in trial} == batch_failures  # the decision family's failures in this batch, no others
    assert len(trial) == (1 + refinements) * len(batch_failures) and not any(e.passed for e in trial)
    # The rewrite request showed what happened on dev: what was sent, and "answered X, expected Y", masked.
    repair = next(text for text in prompts if FIXED_NONE in text)
    assert "sent: ANSWER: 0" in repair and "answered [0], expected" in repair
    assert "<A>" in repair and "<B>" in repair  # the operands are placeholders, not this task's numbers
    # It names the task's placeholders (not the word "<PLACEHOLDERS>") and shows the environment's example.
    assert "Placeholders for the task's values: <A> = this task's a; <B> = this task's b" in repair
    assert "<PLACEHOLDERS>" not in repair and ProposerBrief().example in repair


def test_a_rewrite_that_fixes_a_batch_task_goes_to_the_gate_and_its_pass_feeds_induction(tmp_path: Path) -> None:
    result, _, runs, decisions = trial_run(tmp_path, USEFUL)
    first = [d for d in decisions if d.evidence.extra.get("decision") == "e1:b0"]
    accepted = [d for d in first if d.result_version is not None]
    assert accepted and accepted[0].origin == "refined" and "CALC: <A> * <B>" in accepted[0].edit.skill.body
    assert runs.count_episodes("t", phase="probe") > 0
    first_try = runs.episodes("t", phase="trial", key_prefix="trial:e1:b0:c0:r0:")
    repaired = runs.episodes("t", phase="trial", key_prefix="trial:e1:b0:c0:r1:")
    assert first_try and not any(e.passed for e in first_try) and any(e.passed for e in repaired)
    assert result.counts.trial_episodes == runs.count_episodes("t", phase="trial")


def test_a_trial_pass_is_a_passing_trace_for_induction_when_nothing_else_passed(tmp_path: Path) -> None:
    from grasp.improve.explore import find_pass
    from grasp.improve.induction import induce

    environment = ArithmeticEnvironment(seed=1, per_split=18)
    task = next(t for t in environment.tasks("dev") if t.family == "product")
    runs = RunStore(Database(tmp_path / "g.db"))
    run_id = runs.create(kind="improve", environment="arithmetic", config={})
    passed = calc_pass(task)
    failing = passed.model_copy(update={"passed": False, "task_id": "other"})
    assert find_pass([failing], "product", runs, run_id) == []
    runs.save_episode(run_id, f"trial:e1:b0:c0:r1:{task.id}:x", "trial", passed)
    found = find_pass([failing], "product", runs, run_id)
    assert [e.task_id for e in found] == [task.id]
    induced = asyncio.run(induce(found[0], task, environment, None, library={}, capacity=4, group="g"))
    assert induced.edit is not None and "CALC: <A> * <B>" in induced.edit.skill.body
    assert "ANSWER: <VALUE>" in induced.edit.skill.body


def test_the_proposers_worked_example_is_drawn_from_a_passing_trace_once_one_exists() -> None:
    from grasp.improve.sources import Contrast, ProposerSource
    from grasp.improve.proposer import masker

    environment = ArithmeticEnvironment(seed=1, per_split=18)
    tasks = {t.id: t for t in environment.tasks("dev")}
    products = [t for t in tasks.values() if t.family == "product"]
    solved, failed = products[0], products[1]
    passing = calc_pass(solved)
    value = passing.answer[0]
    failing = Episode(task_id=failed.id, family="product", passed=False, reason="answered [0]", answer=[0],
                      trace=traced(("ANSWER: 0", "", True), answer=[0]))

    def prompts_for(passes: list[Episode]) -> str:
        prompts: list[str] = []
        source = ProposerSource(environment, Hints(), scripted_proposer(USELESS, prompts), trial_config(),
                                evidence=dict, on_note=lambda text: None)
        contrast = Contrast(key="k", label="l", family="product", failing=[failing], passing=passes, skills={},
                            tasks=tasks, seen=[failed.id], seed=0, mask=masker(environment, [failed]))
        asyncio.run(source.candidates(contrast))
        return prompts[0]

    stock = prompts_for([])
    drawn = prompts_for([passing])
    assert "change-only-what-exists" in stock  # the environment's own stock example, with no pass yet
    example = drawn[drawn.rindex("---\naction:"):]  # the prompt's last SKILL.md draft: its worked example
    assert "change-only-what-exists" not in example
    assert "CALC: <A> * <B>" in example and "ANSWER: <VALUE>" in example and str(value) not in example


def test_a_pass_whose_only_accepted_action_is_the_answer_is_never_a_passing_trace(tmp_path: Path) -> None:
    """A "none" answer after a rejected request passes a none-item, and shows no procedure: induction and the
    proposer's example must not learn "answer none" from it."""
    from grasp.improve.explore import did_work, find_pass
    from grasp.improve.induction import induce

    environment = ArithmeticEnvironment(seed=1, per_split=18)
    task = next(t for t in environment.tasks("dev") if t.family == "product")
    shortcut = Episode(task_id=task.id, family="product", passed=True, answer=[-1],
                       trace=traced(("CALC: nonsense", "cannot compute that", False), ("ANSWER: -1", "", True), answer=[-1]))
    worked = traced(("CALC: nonsense", "cannot compute that", True), ("ANSWER: -1", "", True), answer=[-1])
    assert not did_work(shortcut) and did_work(shortcut.model_copy(update={"trace": worked}))
    runs = RunStore(Database(tmp_path / "g.db"))
    run_id = runs.create(kind="improve", environment="arithmetic", config={})
    runs.save_episode(run_id, "train:e1:b0:x", "train", shortcut)
    assert find_pass([shortcut], "product", runs, run_id) == []
    refused = asyncio.run(induce(shortcut, task, environment, None, library={}, capacity=4, group="g"))
    assert refused.edit is None and "no accepted action before its answer" in refused.refusal


def test_a_pass_that_answered_the_trivial_answer_is_never_a_passing_trace(tmp_path: Path) -> None:
    """Work before a "none" answer (a search that matched nothing) still teaches the shortcut: a constant
    answer earns that pass. Only a pass whose answer differs from the environment's trivial answer counts."""
    from grasp.improve.explore import did_work, find_pass

    environment = ArithmeticEnvironment(seed=1, per_split=18)
    task = next(t for t in environment.tasks("dev") if t.family == "product")
    worked_none = calc_pass(task).model_copy(update={"answer": [-1]})
    assert did_work(worked_none)
    runs = RunStore(Database(tmp_path / "g.db"))
    run_id = runs.create(kind="improve", environment="arithmetic", config={})
    runs.save_episode(run_id, "trial:e1:b0:c0:r0:x", "trial", worked_none)
    assert find_pass([worked_none], "product", runs, run_id, trivial=lambda task_id: [-1]) == []
    assert find_pass([worked_none], "product", runs, run_id, trivial=lambda task_id: None) == [worked_none]
    real = calc_pass(task)
    assert find_pass([worked_none, real], "product", runs, run_id, trivial=lambda task_id: [-1]) == [real]


def test_the_proposer_reads_what_each_placeholder_stands_for() -> None:
    """A bare <SINCE_24H> does not say a window's start is there to use; the environment's note does."""
    from grasp.improve.proposer import masker
    from grasp.improve.sources import Contrast, ProposerSource

    class Notes(Hints):
        def variable_notes(self) -> dict[str, str]:
            return {"A": "the first operand, from the task", "Z": "a value no task here has"}

    class Noted(ArithmeticEnvironment):
        def hints(self) -> Hints:
            return Notes()

    environment = Noted(seed=1, per_split=18)
    tasks = {t.id: t for t in environment.tasks("dev")}
    failed = next(t for t in tasks.values() if t.family == "product")
    failing = Episode(task_id=failed.id, family="product", passed=False, reason="answered [0]", answer=[0],
                      trace=traced(("ANSWER: 0", "", True), answer=[0]))
    prompts: list[str] = []
    source = ProposerSource(environment, environment.hints(), scripted_proposer(USELESS, prompts), trial_config(),
                            evidence=dict, on_note=lambda text: None)
    contrast = Contrast(key="k", label="l", family="product", failing=[failing], passing=[], skills={},
                        tasks=tasks, seen=[failed.id], seed=0, mask=masker(environment, [failed]))
    asyncio.run(source.candidates(contrast))
    assert "Placeholders for the task's values: <A> = the first operand, from the task; <B> = this task's b" in prompts[0]
    assert "<Z>" not in prompts[0]  # only the placeholders this task has


def test_a_trial_pass_that_only_gave_the_trivial_answer_fixes_nothing() -> None:
    """A draft that says only 'answer "none"' passes a none item with no request: a constant earns that, so
    the trial does not count it, while the same answer after a search that found nothing is a fix."""
    from environments.weather import WeatherEnvironment
    from grasp.improve.proposer import Candidate
    from grasp.skills import Skill

    environment = WeatherEnvironment()
    task = next(t for t in environment.tasks("dev") if t.family == "station_id" and environment.stratum(t) == "none")
    constant = Episode(task_id=task.id, family=task.family, passed=True, answer=["none"],
                       trace=traced(('FINISH(["none"])', "", True), answer=["none"]))
    searched = Episode(task_id=task.id, family=task.family, passed=True, answer=["none"],
                       trace=traced(("GET stations?q=x", 'HTTP 200 {"meta":{"total":0},"data":[]}', True),
                                    ('FINISH(["none"])', "", True), answer=["none"]))
    candidate = Candidate(edit=Edit(kind=EditKind.ADD, skill=Skill(
        name="say-none", description="Use when asked for a station's id.", body='1. FINISH(["none"])',
        tags=["station_id"])), group="g")

    def judged(episode: Episode) -> Candidate:
        async def run(tasks, skills, key):
            return [episode]

        return refine_once(environment, ScriptedModel(["no draft"], name="scripted-writer"), run, candidate, task,
                           {}, budget=0)

    assert judged(constant).edit is None and "fixed none of 1" in judged(constant).refusal
    assert judged(searched).edit is not None and "fixed 1/1" in judged(searched).trial


@pytest.mark.parametrize("routing", ["words", "family"])
def test_under_words_routing_a_description_its_failures_are_not_routed_to_becomes_their_instruction(routing: str) -> None:
    """A trial that runs without the skill it tries says nothing; the router, not the family label, decides."""
    environment = ArithmeticEnvironment(seed=1, per_split=18)
    task = next(t for t in environment.tasks("dev") if t.family == "product")
    draft = Candidate(edit=Edit(kind=EditKind.ADD, skill=Skill(name="multiply-first", body="1. Send CALC: <A> * <B>.",
                                                               description="Use for multiplication problems.",
                                                               tags=["product"])))
    shown: list[list[str]] = []

    async def run(tasks, skills, key):
        chosen = [select_skills(skills, t, 2, routing=routing) for t in tasks]
        shown.extend([s.name for s in c] for c in chosen)
        return [Episode(task_id=t.id, family=t.family, passed=False, skills=[s.name for s in c])
                for t, c in zip(tasks, chosen, strict=True)]

    refined = refine_once(environment, ScriptedModel([USELESS]), run, draft, task, {}, budget=0, routing=routing)
    assert shown == [["multiply-first"]]  # the trial showed it: by its new description, or by the family label
    assert refined.edit is None and "fixed none" in refined.refusal  # (this executor fails with it all the same)
    if routing == "words":
        assert select_skills([Skill(name="x", description="Use for multiplication problems.", body="y")], task, 1,
                             routing="words") == []  # as written, words alone would never have shown it
