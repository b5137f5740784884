"""An episode as data: every action parsed once and recorded with the environment's answer and who sent it."""

from __future__ import annotations

import asyncio

from environments.arithmetic import ArithmeticEnvironment
from environments.http_api import parse_request
from grasp.agent.loop import run_episode
from grasp.environment import Episode
from grasp.models import ScriptedModel


def test_the_loop_records_each_action_its_answer_and_who_sent_it() -> None:
    environment = ArithmeticEnvironment(seed=1, per_split=6)
    task = next(t for t in environment.tasks("dev") if t.family == "product")
    question = task.instruction.split("What is ")[1].rstrip("?")
    model = ScriptedModel(["what is it?", "ANSWER: 7"])
    episode = asyncio.run(run_episode(environment, task, model, [], max_rounds=3, notice="Last one: ANSWER now.",
                                      opening=[f"CALC: {question}"]))
    first, second, third = episode.trace
    assert (first.by, second.by, third.by) == ("search", "model", "model")
    assert [turn.action.text for turn in episode.trace] == [f"CALC: {question}", "what is it?", "ANSWER: 7"]
    assert first.action.name == "CALC" and first.step.accepted and not second.step.accepted
    assert third.step.done and third.step.answer == [7] and episode.answer == [7]
    # the notice is the loop's, not the environment's: kept apart from the answer it followed
    said = "Reply 'CALC: <expression>' or 'ANSWER: <integer>'."
    assert second.step.observation == said and second.note == "Last one: ANSWER now."
    assert episode.messages[-2]["content"] == second.read == f"{said}\n\nLast one: ANSWER now."
    assert episode.step_ok == [True, False, True]


def test_an_episode_stored_before_turns_were_recorded_reads_with_its_turns() -> None:
    older = {"task_id": "t", "family": "f", "passed": True, "answer": [2], "opening": 1, "step_ok": [True, False, True],
             "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "task"},
                          {"role": "assistant", "content": "GET a?x=1"}, {"role": "user", "content": "HTTP 200 {}"},
                          {"role": "assistant", "content": "GET b"}, {"role": "user", "content": "HTTP 404"},
                          {"role": "assistant", "content": "FINISH([2])"}]}
    episode = Episode.model_validate(older)
    assert [(t.action.text, t.step.observation, t.step.accepted, t.by) for t in episode.trace] == [
        ("GET a?x=1", "HTTP 200 {}", True, "search"), ("GET b", "HTTP 404", False, "model"),
        ("FINISH([2])", "", True, "model")]
    assert episode.trace[-1].step.done
    assert Episode.model_validate_json(episode.model_dump_json()) == episode  # stored again, it reads the same


def test_a_request_parses_into_verb_target_arguments_and_body() -> None:
    action = parse_request('POST Observation?x=1&y=\n{"status": "final"}')
    assert (action.name, action.target, action.arguments, action.body) == ("POST", "Observation", {"x": "1", "y": ""},
                                                                             {"status": "final"})
    assert parse_request('FINISH(["a", 1])').body == ["a", 1] and parse_request("FINISH(").body is None
    assert parse_request("hello there").name == "" and parse_request("").text == ""
