"""The weather network: a second built-in environment, not FHIR, written with the user's hooks only."""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter

import httpx
import pytest

from environments.weather import WeatherEnvironment
from environments.weather.server import create_app
from environments.weather.world import generate, identifiers
from grasp.environment import Environment
from grasp.errors import ConfigError
from grasp.evaluate import evaluate
from grasp.models import ScriptedModel
from grasp.registry import load_environment
from grasp.tasks import Task
from tests.helpers import serve

STEP_ONE = re.compile(r"1\. GET (\S+)")


def skill_follower() -> ScriptedModel:
    """A scripted model (not a language model) that does what the injected skill's first step says, with
    the task's variables filled in, then answers from the JSON it got back as the skill's later steps say;
    with no skill shown it answers the trivial "nothing found" answer at once."""

    def reply(messages: list[dict[str, str]]) -> str:
        found = STEP_ONE.search(messages[0]["content"])
        if not found:
            return 'FINISH(["none"])' if "station in" in messages[1]["content"] else "FINISH([-1])"
        if len(messages) == 2:
            path = found.group(1)
            for name, value in re.findall(r"(CITY|STATION)=([^\s\]]+)", messages[1]["content"]):
                path = path.replace(f"<{name}>", value)
            return f"GET {path}"
        body = json.loads(messages[-1]["content"].split("\n", 1)[1])
        if "meta" in body:
            if body["meta"]["total"] == 0:
                return 'FINISH(["none"])' if "station in" in messages[1]["content"] else "FINISH([-1])"
            first = body["data"][0]
            return f'FINISH(["{first["id"]}"])' if "station in" in messages[1]["content"] else \
                f"FINISH([{first['value']}])"
        return "FINISH([-1])" if body["elevation"] is None else f"FINISH([{body['elevation']['value']}])"

    return ScriptedModel(reply, name="skill-follower")


class WithVariables(WeatherEnvironment):
    """The test's executor reads the variables from the prompt, as a model reads them from the instruction."""

    def task_prompt(self, task: Task) -> str:
        named = " ".join(f"{key}={value}" for key, value in task.variables.items())
        return f"{super().task_prompt(task)}\n[{named}]"


def test_the_reference_library_answers_every_dev_and_val_item_over_real_http() -> None:
    async def failures(environment: WeatherEnvironment) -> list[tuple[str, str]]:
        skills = {skill.name: skill for skill in environment.reference_library()}
        tasks = environment.tasks("dev") + environment.tasks("val")
        result = await evaluate(environment, skill_follower(), tasks, skills)
        await environment.aclose()
        assert len(result.episodes) == len(tasks) == 54
        return [(e.task_id, e.reason) for e in result.episodes if not e.passed]

    with serve(create_app(generate(7))) as url:
        assert asyncio.run(failures(WithVariables(base_url=f"{url}/v1"))) == []


def test_with_no_skills_the_trivial_answer_passes_the_none_items_and_no_value_item() -> None:
    environment = WithVariables()
    tasks = environment.tasks("dev")
    result = asyncio.run(evaluate(environment, skill_follower(), tasks, {}))
    passed = Counter(environment.stratum(t) for t, e in zip(tasks, result.episodes) if e.passed)
    strata = Counter(environment.stratum(t) for t in tasks)
    assert passed == {"none": strata["none"]} and strata["value"] == 24


def test_splits_are_balanced_disjoint_and_the_same_from_the_same_seed() -> None:
    environment = WeatherEnvironment()
    splits = {split: environment.tasks(split) for split in ("dev", "val", "test")}
    for split, (values, nones) in {"dev": (8, 4), "val": (4, 2), "test": (8, 4)}.items():
        counts = Counter((t.family, environment.stratum(t)) for t in splits[split])
        assert counts == {(family, stratum): n for family in ("station_id", "latest_temp", "elevation_ft")
                          for stratum, n in (("value", values), ("none", nones))}
    named = {split: {value for t in tasks for value in t.variables.values()} for split, tasks in splits.items()}
    assert not named["dev"] & named["val"] and not named["dev"] & named["test"] and not named["val"] & named["test"]
    assert WeatherEnvironment().manifest_hash() == environment.manifest_hash()
    assert WeatherEnvironment(world_seed=8).manifest_hash() != environment.manifest_hash()


def test_the_sealed_test_comes_from_a_world_that_shares_no_city_or_station() -> None:
    environment = WeatherEnvironment()
    held = environment.held_out(1000)
    sealed = held.tasks("test")
    assert held.tasks("dev") == [] and len(sealed) == 36
    assert {t.family for t in sealed} == {t.family for t in environment.tasks("test")}
    assert not {v.lower() for t in sealed for v in t.variables.values()} & {n.lower() for n in identifiers(generate(7))}
    assert all(t.id.startswith("w1000-") for t in sealed)
    assert "seed 1000" in held.world() and "held out from world 7" in held.world()
    with pytest.raises(ConfigError, match="world dev and val are drawn from"):
        environment.held_out(7)


def test_the_api_says_what_it_rejects_in_its_own_words_and_reaches_no_other_host() -> None:
    environment = WeatherEnvironment()
    task = next(t for t in environment.tasks("dev") if t.family == "elevation_ft" and environment.stratum(t) == "value")
    station = task.variables["STATION"]

    async def replies(*actions: str) -> list:
        session = await environment.open(task)
        steps = [await session.step(action) for action in actions]
        await environment.aclose()
        return steps

    unknown, missing, too_many, imperial, elsewhere, bad = asyncio.run(replies(
        "GET stations?city=Foo", "GET stations/ZZ0000", f"GET stations/{station}/observations?per_page=500",
        f"GET stations/{station}?units=imperial", "GET http://example.com/v1/stations", "POST stations"))
    assert unknown.failed and "400" in unknown.observation and "allowed: page, per_page, q, region, sort" in unknown.observation
    assert missing.failed and "404" in missing.observation and "ZZ0000" in missing.observation
    assert too_many.failed and "from 1 to 100" in too_many.observation
    assert json.loads(imperial.observation.split("\n", 1)[1])["elevation"]["value"] == task.solution["expected"]
    assert elsewhere.refused and "only http://weather.local/v1/" in elsewhere.observation
    assert bad.invalid


@pytest.mark.parametrize(("family", "answer", "passed"), [
    ("latest_temp", [12.34], True), ("latest_temp", ["12.3"], True), ("latest_temp", [12.5], False),
    ("latest_temp", [12.3, 1], False), ("latest_temp", [True], False), ("station_id", [" ab1234 "], True),
    ("station_id", [1234], False), ("elevation_ft", [], False),
])
def test_grades_compare_the_value_with_a_tolerance_and_nothing_else(family: str, answer: list, passed: bool) -> None:
    expected = {"latest_temp": 12.3, "station_id": "AB1234", "elevation_ft": 500}[family]
    task = Task(id="t", family=family, instruction="?", solution={"expected": expected})

    async def grade():
        environment = WeatherEnvironment()
        session = await environment.open(task)
        return await session.grade(answer)

    grade = asyncio.run(grade())
    assert grade.passed is passed
    if not passed:
        assert "expected" in grade.reason


def test_the_environment_is_found_by_its_entry_point_as_a_users_would_be() -> None:
    environment = load_environment("weather", max_rounds=4)
    assert isinstance(environment, WeatherEnvironment) and isinstance(environment, Environment)
    assert environment.max_rounds == 4
    # It implements none of the hooks that help the learner: what it learns, the method learned.
    assert environment.hints() is None
