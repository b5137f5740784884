"""Amending a rejected action from the environment's own answer (grasp/improve/amend.py), and the exploration
that lets the executor finish an amended action (grasp/improve/explore.py)."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from environments.http_api import HttpProtocol, QueryAction
from environments.weather import WeatherEnvironment
from grasp.agent.loop import run_episode
from grasp.agent.search import SearchCalls
from grasp.agent.selection import Selection
from grasp.environment import Environment, Session, Step
from grasp.improve.amend import amend
from grasp.improve.explore import explore_amended
from grasp.improve.traces import first_rejection
from grasp.models import ScriptedModel
from grasp.store import Database
from grasp.store.runs import RunStore
from grasp.tasks import Grade, Task

BOOKS = {"Emma": "b-42", "Dune": "b-17"}  # Dune, the first task by id, listed second


class FindsOnly(HttpProtocol):
    """Query-string actions whose only read is FIND: search may resend a FIND line and nothing else."""

    def replayable(self, action: str) -> bool:
        return action.startswith("FIND ") and "\n" not in action


class Catalogue(Environment):
    """A toy library catalogue, not HTTP and not weather: ``FIND books?title=<TITLE>&limit=<n>``, which answers
    like any API that lists what it takes. Counts every action it is sent."""

    name = "catalogue"
    max_rounds = 2
    protocol = FindsOnly()

    def __init__(self) -> None:
        self.sent: list[str] = []

    def tasks(self, split: str) -> list[Task]:
        return [Task(id=f"book-{title.lower()}", family="book_id", instruction=f"What is the id of the book {title}?",
                     solution={"expected": book}, variables={"TITLE": title}) for title, book in BOOKS.items()]

    def instructions(self) -> str:
        return "Reply FIND books?<params> or ANSWER <id>."

    async def open(self, task: Task) -> Session:
        return CatalogueSession(self, task)



class CatalogueSession(Session):
    def __init__(self, env: Catalogue, task: Task) -> None:
        self.env, self.task, self.answer = env, task, None

    async def step(self, reply: str) -> Step:
        text = reply.strip()
        if text.startswith("ANSWER "):
            self.answer = text.removeprefix("ANSWER ").strip()
            return Step(observation="", done=True, answer=[self.answer])
        self.env.sent.append(text)
        if not text.startswith("FIND books"):
            return Step(observation="Reply FIND books?<params> or ANSWER <id>.", invalid=True)
        params = dict(parse_qsl(urlsplit(text.removeprefix("FIND ")).query, keep_blank_values=True))
        for key in params:
            if key not in ("title", "limit"):
                return Step(observation=f"rejected: unknown field '{key}' (fields: title, limit)", failed=True)
        if "limit" in params and not params["limit"].isdigit():
            return Step(observation=f"rejected: limit '{params['limit']}' is not a count", failed=True)
        matches = [{"title": t, "id": b} for t, b in BOOKS.items() if params.get("title") in (None, t)]
        return Step(observation=json.dumps(matches), action=text)

    async def grade(self, answer: list[Any] | None) -> Grade:
        passed = answer == [self.task.solution["expected"]]
        return Grade(passed=passed, reason="correct" if passed else f"answered {answer}")


def wrong_field_reader() -> ScriptedModel:
    """A scripted executor (not a language model): it guesses the wrong field, and answers the first id of a
    list when it gets one."""

    def reply(messages: list[dict[str, str]]) -> str:
        if len(messages) == 2:
            title = re.search(r"book (\w+)", messages[1]["content"]).group(1)
            return f"FIND books?name={title}"
        listed = messages[-1]["content"]
        return f"ANSWER {json.loads(listed)[0]['id']}" if listed.startswith("[") else "ANSWER none"

    return ScriptedModel(reply, name="wrong-field")


def test_a_rejected_field_is_renamed_to_one_the_answer_names_and_the_action_kept_otherwise() -> None:
    env = Catalogue()
    task = env.tasks("dev")[0]
    found = asyncio.run(amend(SearchCalls(env), task, "FIND books?name=Dune&limit=5", "rejected: unknown field 'name' (fields: title, limit)"))
    actions = [a.action for a in found]
    assert "FIND books?title=Dune&limit=5" in actions
    assert all(json.loads(a.observation) for a in found if a.action == "FIND books?title=Dune&limit=5")
    # Dropping the field (free) comes before renaming it (one borrowed word): the cheapest first.
    assert actions[0] == "FIND books?limit=5"


def test_only_the_pair_the_answer_points_at_is_touched_and_a_bad_value_is_revalued_or_dropped() -> None:
    env = Catalogue()
    task = env.tasks("dev")[1]
    found = asyncio.run(amend(SearchCalls(env), task, "FIND books?title=Emma&limit=all", "rejected: limit 'all' is not a count"))
    assert [a.action for a in found] == ["FIND books?title=Emma"]  # no word of the answer is a count


def test_the_search_spends_at_most_its_budget_of_environment_calls() -> None:
    env = Catalogue()
    task = env.tasks("dev")[0]
    asyncio.run(amend(SearchCalls(env), task, "FIND books?a=1&b=2&c=3&d=4", "rejected: unknown field 'a' (fields: title, limit)",
                      max_checks=7))
    assert len(env.sent) == 7


def test_actions_that_are_not_one_line_queries_are_left_alone() -> None:
    env = Catalogue()
    task = env.tasks("dev")[0]
    for action in ("ANSWER b-17", "FIND books", 'POST books?x=1\n{"title": "Dune"}'):
        assert asyncio.run(amend(SearchCalls(env), task, action, "rejected: unknown field 'x'")) == []
    assert env.sent == []
    assert QueryAction.parse("GET a?x=1&x=1&y") == QueryAction("GET a", (("x", "1"), ("y", "")))


def test_weather_the_city_parameter_becomes_q_from_the_apis_own_400() -> None:
    env = WeatherEnvironment()
    task = next(t for t in env.tasks("dev") if t.family == "station_id" and t.solution["expected"] != "none")
    city = task.variables["CITY"]
    action = f"GET stations?city={city}&units=metric&sort=id"

    async def go() -> list[str]:
        session = await env.open(task)
        rejected = await session.step(action)
        assert rejected.failed and "'city'" in rejected.observation
        found = await amend(SearchCalls(env), task, action, rejected.observation)
        await env.aclose()
        return [a.action for a in found]

    actions = asyncio.run(go())
    assert f"GET stations?q={city}&sort=id" in actions


def test_an_opening_reply_is_sent_for_the_model_and_recorded_as_such() -> None:
    env = Catalogue()
    task = next(t for t in env.tasks("dev") if t.id == "book-dune")
    model = ScriptedModel(lambda m: f"ANSWER {json.loads(m[-1]['content'])[0]['id']}", name="reader")
    episode = asyncio.run(run_episode(env, task, model, [], opening=["FIND books?title=Dune"]))
    assert episode.passed and episode.opening == 1 and episode.rounds == 2
    assert len(model.calls) == 1 and episode.messages[2]["content"] == "FIND books?title=Dune"


def test_exploration_finishes_an_amended_action_and_returns_the_pass(tmp_path) -> None:
    env = Catalogue()
    tasks = env.tasks("dev")
    runs = RunStore(Database(tmp_path / "g.db"))
    run_id = runs.create(kind="improve", environment="catalogue", config={})

    executor = wrong_field_reader()
    failing = [asyncio.run(run_episode(env, task, executor, [])) for task in tasks]
    assert not any(e.passed for e in failing) and first_rejection(failing[0])[0].startswith("FIND books?name=")
    found = asyncio.run(explore_amended(env, executor, list(zip(tasks, failing, strict=True)), {}, amendments=4,
                                        checks=50, seed="s", runs=runs, run_id=run_id, selection=Selection(k=2),
                                        max_rounds=2))
    assert found is not None and found.passed and found.opening == 1
    assert found.messages[2]["content"] == "FIND books?title=Dune"
    assert [e.task_id for e in runs.episodes(run_id, phase="explore")][-1] == found.task_id
    searched = runs.search_calls(run_id, phase="amend")  # the run's record of what search sent, in order
    assert searched and "FIND books?title=Dune" in [call["action"] for call in searched]
    assert runs.count_search_calls(run_id) == len(searched)


def test_an_amended_pass_right_by_luck_is_passed_over_for_one_its_peers_pass_too(tmp_path) -> None:
    """For Emma, dropping the wrong field (the cheapest amendment) lists every book, and Emma's comes first:
    a pass by luck. Replayed on Dune with Dune's title, it answers Emma's id; the next amendment,
    ``title=<TITLE>``, passes both, and that is the pass exploration returns."""
    env = Catalogue()
    dune, emma = sorted(env.tasks("dev"), key=lambda task: task.id)
    runs = RunStore(Database(tmp_path / "g.db"))

    executor = wrong_field_reader()
    failing = asyncio.run(run_episode(env, emma, executor, []))

    def explored(peers: list[Task]) -> str:
        run_id = runs.create(kind="improve", environment="catalogue", config={})
        found = asyncio.run(explore_amended(env, executor, [(emma, failing)], {}, amendments=4, checks=50, seed="s",
                                            runs=runs, run_id=run_id, selection=Selection(k=2), max_rounds=2,
                                            peers=peers))
        assert found is not None and found.passed and found.task_id == emma.id
        return found.messages[2]["content"]

    assert explored([]) == "FIND books"  # with nobody to replay it on, the cheapest pass
    assert explored([dune, emma]) == "FIND books?title=Emma"


class Shelf(Catalogue):
    """The catalogue with writes: ``DELETE books?id=..`` and ``POST books?title=..`` change the shelf. Only a FIND
    is replayable; the shelf records every action that reached it."""

    name = "shelf"

    async def open(self, task: Task) -> Session:
        return ShelfSession(self, task)


class ShelfSession(CatalogueSession):
    async def step(self, reply: str) -> Step:
        if reply.startswith(("DELETE ", "POST ")):
            self.env.sent.append(reply)
            return Step(observation="rejected: unknown field 'name' (fields: id, title)", failed=True)
        return await super().step(reply)


def test_search_never_sends_an_action_the_environment_does_not_call_replayable_and_stores_every_call(tmp_path) -> None:
    env = Shelf()
    task = env.tasks("dev")[0]
    runs = RunStore(Database(tmp_path / "g.db"))
    run_id = runs.create(kind="improve", environment=env.name, config={})
    calls = SearchCalls(env, runs=runs, run_id=run_id, phase="amend")
    for write in ("DELETE books?name=Dune", "POST books?name=Dune&limit=1"):
        assert asyncio.run(amend(calls, task, write, "rejected: unknown field 'name' (fields: id, title)")) == []
    assert env.sent == [] and calls.sent == 0 and calls.withheld > 0  # not one write reached the shelf
    found = asyncio.run(amend(calls, task, "FIND books?name=Dune", "rejected: unknown field 'name' (fields: title)"))
    assert found and calls.sent == len(env.sent) > 0
    stored = runs.search_calls(run_id)
    assert [call["action"] for call in stored] == env.sent and runs.count_search_calls(run_id) == calls.sent
    assert {call["phase"] for call in stored} == {"amend"} and {call["task_id"] for call in stored} == {task.id}
    assert any(call["outcome"] == "accepted" for call in stored) and any(call["outcome"] == "failed" for call in stored)
