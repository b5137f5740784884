"""Grounded induction on a real FHIR trace: placeholders in, the task's concrete values out."""

from __future__ import annotations

import asyncio
import json

from environments.fhir.environment import FhirEnvironment
from environments.fhir.variables import task_variables
from grasp.agent.loop import run_episode
from grasp.agent.search import SearchCalls
from grasp.improve.induction import induce
from grasp.models import ScriptedModel
from grasp.tasks import Task


def _task(env: FhirEnvironment, family: str) -> Task:
    tasks = [t for split in ("dev", "val", "test") for t in env.tasks(split) if t.family == family]
    return next(t for t in tasks if t.solution["expected"] != -1)


def _solver(task: Task) -> ScriptedModel:
    """A scripted executor that sends the right search (with a wrong first try) and the right answer."""
    mrn, answer = task.solution["mrn"], task.solution["expected"]
    script = [f"GET Observation?patient={mrn}&code=MG&sort=-date",  # refused by the server: not in the skill
              f"GET Observation?patient={mrn}&code=MG&date=ge2024-03-14T09:30:00%2B00:00&_sort=-date&_count=1",
              f"FINISH([{json.dumps(answer)}])"]
    return ScriptedModel(script, name="scripted-solver")


def test_an_induced_skill_has_placeholders_and_none_of_the_tasks_values(env: FhirEnvironment) -> None:
    task = _task(env, "latest_mg_24h")
    episode = asyncio.run(run_episode(env, task, _solver(task), []))
    asyncio.run(env.aclose())
    assert episode.passed and episode.step_ok == [False, True, True]
    candidate = asyncio.run(induce(episode, task, env, None, library={}, capacity=4, group="g",
                                   search=SearchCalls(env)))
    skill = candidate.edit.skill
    text = f"{skill.name}\n{skill.description}\n{skill.body}"
    assert "GET Observation?patient=<MRN>&code=<CODE>&date=ge<SINCE_24H>%2B00:00&_sort=-date&_count=1" in skill.body
    assert "FINISH([<VALUE>])" in skill.body and "sort=-date\n" not in skill.body
    for value in (task.solution["mrn"], str(task.solution["expected"]), "2024-03-14T09:30", "MG"):
        assert value not in text, value
    assert candidate.origin == "induced" and candidate.seen == [task.id]
    assert env.hints().check_skill(text) is None  # the server accepts every request the skill writes


def test_a_model_written_name_that_leaks_a_value_falls_back_to_the_template(env: FhirEnvironment) -> None:
    task = _task(env, "latest_mg_24h")
    episode = asyncio.run(run_episode(env, task, _solver(task), []))
    asyncio.run(env.aclose())
    leaky = ScriptedModel([json.dumps({"name": "mg-lookup", "description": f"Use when asked about "
                                       f"{task.solution['mrn']}.", "advice": "Sort newest first."})], name="namer")
    candidate = asyncio.run(induce(episode, task, env, leaky, library={}, capacity=4, group="g",
                                   search=SearchCalls(env)))
    assert task.solution["mrn"] not in candidate.edit.skill.description
    assert candidate.edit.skill.name == "latest-mg-24h-workflow"


def test_fhir_tasks_declare_their_mrn_code_and_clock(env: FhirEnvironment) -> None:
    task = _task(env, "latest_mg_24h")
    variables = task_variables(task)
    assert variables["MRN"] == task.solution["mrn"] and variables["CODE"] == "MG"
    assert "2024-03-14T09:30:00" in variables["SINCE_24H"] and "2024-03-15T09:30:00" in variables["NOW"]
    named = next(t for t in env.tasks("dev") + env.tasks("val") if t.family == "patient_lookup")
    assert {"GIVEN", "FAMILY", "BIRTHDATE"} <= set(task_variables(named))


def _none_task(env: FhirEnvironment, family: str) -> Task:
    tasks = [t for split in ("dev", "val", "test") for t in env.tasks(split) if t.family == family]
    return next(t for t in tasks if t.solution["expected"] == -1)


def test_a_pass_on_a_none_task_never_induces_an_unconditional_none_answer(env: FhirEnvironment) -> None:
    task = _none_task(env, "latest_mg_24h")
    mrn = task.solution["mrn"]
    script = [f"GET Observation?patient={mrn}&code=MG&date=ge2024-03-14T09:30:00%2B00:00&_sort=-date&_count=1",
              "FINISH([-1])"]
    episode = asyncio.run(run_episode(env, task, ScriptedModel(script, name="scripted-solver"), []))
    asyncio.run(env.aclose())
    assert episode.passed
    body = asyncio.run(induce(episode, task, env, None, library={}, capacity=4, group="g",
                                   search=SearchCalls(env))).edit.skill.body
    answer_line = next(line for line in body.splitlines() if "FINISH" in line)
    # -1 survives only as the condition the instruction prescribes it for; the answer itself is a placeholder.
    assert answer_line.startswith("2. If the result has no match") and "FINISH([-1])" in answer_line
    assert answer_line.endswith("Otherwise: FINISH([<VALUE>])")
    assert not any(line.strip().endswith("FINISH([-1])") for line in body.splitlines())


def test_an_answer_that_appears_inside_an_id_is_still_a_placeholder(env: FhirEnvironment) -> None:
    task = _task(env, "patient_age")
    age = task.solution["expected"]
    # An id that holds the answer's digits: the old rule kept an answer found anywhere in the instruction.
    task = task.model_copy(update={"instruction": task.instruction.replace(task.solution["mrn"], f"S99{age}999"),
                                   "variables": {**task.variables, "MRN": f"S99{age}999"}})
    script = [f"GET Patient?identifier=S99{age}999", f"FINISH([{age}])"]
    episode = asyncio.run(run_episode(env, task, ScriptedModel(script, name="scripted-solver"), []))
    asyncio.run(env.aclose())
    episode = episode.model_copy(update={"passed": True, "answer": [age]})
    body = asyncio.run(induce(episode, task, env, None, library={}, capacity=4, group="g",
                                   search=SearchCalls(env))).edit.skill.body
    assert "FINISH([<VALUE>])" in body and f"FINISH([{age}])" not in body


def test_what_a_placeholder_stands_for_is_the_skills_own_text_and_the_executor_reads_nothing_else(
        env: FhirEnvironment) -> None:
    """A small executor wrote "now" for <SINCE_24H>, or the task's unencoded '+00:00', until the meaning
    stood ahead of the request. That line is written into the skill (stored, counted, shown), never added
    when the prompt is built: the executor's prompt for a task is the same in every arm but for the skills'
    own text. A placeholder the skill defines itself is not explained twice."""
    from grasp.agent import skills_block
    from grasp.skills import Skill, with_meanings

    task = _task(env, "latest_mg_24h")
    drafted = Skill(name="mg-24h", description="Use when asked for the latest magnesium of <MRN> in 24 hours.",
                    body="1. <VALUE> is the number read from the Bundle.\n"
                         "2. GET Observation?patient=<MRN>&code=<CODE>&date=ge<SINCE_24H>%2B00:00&_count=1\n"
                         "3. FINISH([<VALUE>])", tags=["latest_mg_24h"])
    skill = with_meanings(drafted, env.hints().variable_notes())
    line = skill.body.splitlines()[0]
    assert line.startswith("Placeholders: ") and "<MRN> = the patient's MRN" in line
    assert "<SINCE_24H> = 24 hours before now" in line and "<CODE> =" in line and "<VALUE>" not in line
    assert with_meanings(skill, env.hints().variable_notes()) == skill
    seen: list[list[dict[str, str]]] = []

    def reply(messages: list[dict[str, str]]) -> str:
        seen.append(messages)
        return "FINISH([-1])"

    for skills in ([], [drafted], [skill]):
        asyncio.run(run_episode(env, task, ScriptedModel(reply, name="scripted-reader"), skills))
    asyncio.run(env.aclose())
    bare, drafted_arm, noted_arm = seen
    for arm, skills in ((drafted_arm, [drafted]), (noted_arm, [skill])):
        assert arm[0]["content"] == bare[0]["content"] + skills_block(skills)
        assert skills_block(skills).endswith(skills[0].body) and arm[1:] == bare[1:]
    assert "Placeholders: " not in drafted_arm[0]["content"]