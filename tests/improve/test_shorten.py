"""Induced steps in their shortest spelling the environment answers the same way (grasp/improve/shorten.py),
and the no-result condition an induced answer step states whichever outcome it was induced from."""

from __future__ import annotations

import asyncio
from typing import Any

from environments.http_api import HttpProtocol, shorter_spellings
from environments.weather import WeatherEnvironment
from grasp.agent.loop import run_episode
from grasp.agent.search import SearchCalls
from grasp.environment import Environment, Session, Step
from grasp.improve.induction import induce
from grasp.improve.shorten import shortest
from grasp.models import ScriptedModel
from grasp.tasks import Grade, Task


class AbsoluteOnly(Environment):
    """A toy API that resolves only absolute URLs of its own host, and counts what it is sent."""

    name = "absolute-only"
    protocol = HttpProtocol()  # a GET line may be resent; an absolute URL has shorter spellings

    def __init__(self) -> None:
        self.sent: list[str] = []

    def tasks(self, split: str) -> list[Task]:
        return [Task(id="t", family="f", instruction="Read item 7.", variables={"ITEM": "7"})]

    def instructions(self) -> str:
        return "Reply GET http://api.test/v2/<path> or FINISH([...])."

    async def open(self, task: Task) -> Session:
        return AbsoluteSession(self)



class AbsoluteSession(Session):
    def __init__(self, env: AbsoluteOnly) -> None:
        self.env = env

    async def step(self, reply: str) -> Step:
        self.env.sent.append(reply)
        if reply.startswith("GET http://api.test/v2/"):
            return Step(observation=f"item {reply.rsplit('/', 1)[1]}", action=reply)
        return Step(observation="only absolute URLs of http://api.test/v2/ are resolved", failed=True)

    async def grade(self, answer: list[Any] | None) -> Grade:
        return Grade(passed=True)


def test_the_leading_parts_of_a_url_are_dropped_one_by_one_shortest_first() -> None:
    assert shorter_spellings("GET http://h.test/v1/stations/X?units=imperial") == [
        "GET X?units=imperial", "GET stations/X?units=imperial", "GET v1/stations/X?units=imperial"]
    for action in ("GET stations/X", "FINISH([1])", 'POST http://h.test/v1/obs\n{"value": 1}'):
        assert shorter_spellings(action) == []


def test_the_weather_api_answers_a_request_relative_to_its_base_the_same_so_that_one_is_kept() -> None:
    env = WeatherEnvironment()
    task = next(t for t in env.tasks("dev") if t.family == "elevation_ft")
    station = task.variables["STATION"]
    short = asyncio.run(shortest(SearchCalls(env), task, f"GET http://weather.local/v1/stations/{station}?units=imperial"))
    asyncio.run(env.aclose())
    assert short == f"GET stations/{station}?units=imperial"


def test_an_environment_that_resolves_only_full_urls_keeps_the_action_as_sent() -> None:
    env = AbsoluteOnly()
    task = env.tasks("dev")[0]
    assert asyncio.run(shortest(SearchCalls(env), task, "GET http://api.test/v2/items/7")) == "GET http://api.test/v2/items/7"
    assert env.sent[0] == "GET http://api.test/v2/items/7" and len(env.sent) == 4  # the original, then 3 tries
    body = 'POST http://api.test/v2/items\n{"id": 7}'
    assert asyncio.run(shortest(SearchCalls(env), task, body)) == body and len(env.sent) == 4  # a write is never resent


def _induced_body(task: Task, script: list[str]) -> str:
    env = WeatherEnvironment()
    episode = asyncio.run(run_episode(env, task, ScriptedModel(script, name="scripted-solver"), []))
    assert episode.passed, episode.reason
    candidate = asyncio.run(induce(episode, task, env, None, library={}, capacity=4, group="g",
                                   search=SearchCalls(env)))
    asyncio.run(env.aclose())
    return candidate.edit.skill.body


def test_a_skill_induced_from_a_value_pass_is_written_relative_and_states_the_no_result_answer_too() -> None:
    env = WeatherEnvironment()
    task = next(t for t in env.tasks("dev") if t.family == "elevation_ft" and t.solution["expected"] != -1)
    station, feet = task.variables["STATION"], task.solution["expected"]
    body = _induced_body(task, [f"GET http://weather.local/v1/stations/{station}?units=imperial",
                                f"FINISH([{feet}])"])
    assert "1. GET stations/<STATION>?units=imperial\n" in body
    assert ("2. If the result has no match (the case the task prescribes -1 for): FINISH([-1]). "
            "Otherwise: FINISH([<VALUE>])") in body
    assert station not in body and str(feet) not in body


def test_the_answer_step_reads_the_same_from_a_none_pass_and_from_a_value_pass() -> None:
    env = WeatherEnvironment()
    tasks = [t for t in env.tasks("dev") if t.family == "station_id"]
    found = next(t for t in tasks if t.solution["expected"] != "none")
    missing = next(t for t in tasks if t.solution["expected"] == "none")
    bodies = [_induced_body(task, [f"GET http://weather.local/v1/stations?q={task.variables['CITY']}",
                                   f'FINISH(["{task.solution["expected"]}"])']) for task in (found, missing)]
    answer_lines = [next(line for line in body.splitlines() if "FINISH" in line) for body in bodies]
    assert answer_lines[0] == answer_lines[1] == (
        '2. If the result has no match (the case the task prescribes none for): FINISH(["none"]). '
        'Otherwise: FINISH(["<VALUE>"])')
