"""The proposer's worked example comes from the run, and a rewrite after a trial reads what the environment said."""

from __future__ import annotations

import asyncio

from environments.arithmetic import ArithmeticEnvironment
from environments.weather import WeatherEnvironment
from grasp.edits import Edit, EditKind
from grasp.environment import Episode, Hints, ProposerBrief
from grasp.improve.drafts import parse_draft
from grasp.improve.examples import worked_example
from grasp.improve.templates import prompt
from grasp.improve.proposer import Candidate
from grasp.models import ScriptedModel
from grasp.skills import Skill

from ..helpers import traced
from .scripted_run import proposal
from .test_refine import calc_pass, refine_once

SUMS = Skill(name="add-in-one-go", description="Use when asked for a sum.", body="1. ANSWER: <A> + <B>", tags=["sum"])
PRODUCTS = Skill(name="calc-products", description="Use when asked for a product.",
                 body="1. CALC: <A> * <B>\n2. ANSWER: <VALUE>", tags=["product"])
NOTES = Skill(name="reflection-notes", description="Use always: lessons.", body="- be careful", tags=["all"])


def test_the_example_is_the_runs_own_pass_then_an_accepted_skill_then_the_environments_brief() -> None:
    environment = ArithmeticEnvironment(seed=1, per_split=18)
    task = next(t for t in environment.tasks("dev") if t.family == "product")
    passing = calc_pass(task)
    hints = Hints()
    brief = hints.proposer_brief().example

    drawn = parse_draft(worked_example(environment, hints, {"add-in-one-go": SUMS}, "product", passing=passing, task=task))
    assert "CALC: <A> * <B>" in drawn.body and str(passing.answer[0]) not in drawn.body
    both = {"add-in-one-go": SUMS, "calc-products": PRODUCTS, "reflection-notes": NOTES}
    assert parse_draft(worked_example(environment, hints, both, "product")).name == "calc-products"  # its own family first
    assert parse_draft(worked_example(environment, hints, both, "mixed")).name == "add-in-one-go"  # then by name
    assert worked_example(environment, hints, {"reflection-notes": NOTES}, "product") == brief  # notes are no procedure
    answer_only = passing.model_copy(update={"trace": passing.trace[-1:]})
    assert worked_example(environment, hints, {}, "product", passing=answer_only, task=task) == brief


def test_the_stock_example_is_a_shape_no_lookup_family_answers_with() -> None:
    example = parse_draft(ProposerBrief().example)
    assert example.action == "ADD" and example.description.startswith("Use when")
    # a guarded change: it finds, then changes or answers that nothing was changed; it never reads a value out
    assert "answer with the value" not in example.body.lower() and "<VALUE>" not in example.body
    assert [line.split(".")[0] for line in example.body.splitlines()] == ["1", "2", "3"]


def test_a_rewrite_at_trial_shows_the_environments_whole_rejection_and_an_accepted_skill_as_example() -> None:
    """On the weather API (no check_skill, no brief): the 400 names the parameters the endpoint takes; the
    rewrite prompt shows it whole, beside the run's own accepted skill in place of the stock example."""
    environment = WeatherEnvironment()
    task = next(t for t in environment.tasks("dev") if t.family == "station_id" and environment.stratum(t) == "value")
    rejection = ("HTTP 400\n" + '{"error":{"status":400,"message":"unknown parameter \'city\' for /stations; '
                 "allowed: page, per_page, q, region, sort\"}}" + " " * 320 + "(end of message)")
    failed = Episode(task_id=task.id, family=task.family, passed=False, reason='answered [], expected ["X"]',
                     answer=[], trace=traced((f"GET stations?city={task.variables['CITY']}", rejection, False),
                                             ("FINISH([])", "", True), answer=[]))
    prompts: list[str] = []

    def reply(messages: list[dict[str, str]]) -> str:
        prompts.append(messages[-1]["content"])
        return proposal("find-station", "Use when asked for a station's id.", "1. GET stations?q=<CITY>")

    async def run(tasks, skills, key):
        return [failed]

    accepted = Skill(name="latest-reading", description="Use when asked for a latest reading.",
                     body="1. GET stations/<STATION>/observations?sort=-time&per_page=1", tags=["latest_temp"])
    candidate = Candidate(edit=Edit(kind=EditKind.ADD, skill=Skill(
        name="find-station", description="Use when asked for a station's id.", body="1. GET stations?city=<CITY>",
        tags=["station_id"])), group="g")
    judged = refine_once(environment, ScriptedModel(reply, name="scripted-writer"), run, candidate, task,
                         {"latest-reading": accepted}, budget=1,
                         mask=lambda text: text.replace(task.variables["CITY"], "<CITY>"))
    assert judged.edit is None and "fixed none" in judged.refusal  # the scripted run never passes
    [repair] = prompts
    said = repair.split(prompt("rewrite-answered", lines=""), 1)[1]
    assert "allowed: page, per_page, q, region, sort" in said and "(end of message)" in said
    assert task.variables["CITY"] not in repair
    example = repair[repair.rindex("---\naction:"):]  # the prompt's last SKILL.md draft: its worked example
    assert parse_draft(example).name == "latest-reading" and ProposerBrief().example not in repair
