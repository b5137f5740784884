"""A weather network's REST API as a grasp environment: the second built-in one, and not FHIR.

It is written only with the hooks the README offers every user (tasks with variables, instructions,
sessions, graders, strata, a trivial answer, a reference library, a held-out world); none of the hooks
that help the learner (``Environment.hints`` is None: no linter, mender, brief or placeholder notes). What a
run learns here, the method learned from the API's own replies.

Three task families, each with items whose answer is a value and items whose answer is the family's
"nothing found" answer:

- ``station_id``: the id of the station in a city (stations are searched with ``q``);
- ``latest_temp``: a station's latest air temperature (observations come oldest first, paged);
- ``elevation_ft``: a station's elevation in feet (records are metric unless ``units=imperial``).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from grasp.environment import Environment, Session, Step
from grasp.errors import ConfigError
from grasp.skillfiles import import_skills
from grasp.skills import Skill
from grasp.tasks import Grade, Task

from ..http_api import HttpProtocol
from .server import PREFIX, create_app
from .world import NOW, World, feet, generate, identifiers

DEV_WORLD = 7  # the world dev, val and the development test split come from
IN_PROCESS_BASE = f"http://weather.local{PREFIX}/"
REFERENCE_LIBRARY = Path(__file__).parent / "reference_library"
MAX_OBSERVATION_CHARS = 2500
NONE_ANSWERS = {"station_id": "none", "latest_temp": -1, "elevation_ft": -1}
TOLERANCE = {"latest_temp": 0.05, "elevation_ft": 1.0}
PER_SPLIT = {"dev": (8, 4), "val": (4, 2), "test": (8, 4)}  # value items, none items, per family

INSTRUCTIONS = """You are an assistant working with a weather network's REST API at {base}
Each reply must be exactly ONE action, and nothing else:
GET {base}<path>?<params>
FINISH([answer1, answer2, ...])
Endpoints: stations (search the network's stations), stations/<id> (one station's record: name, city, region,
elevation, opened), stations/<id>/observations (its hourly readings; elements: air_temp, humidity, wind_speed,
pressure). The network's clock: {now}.
Lists are paged (page, per_page up to 100) and sorted by sort=<field> (sort=-<field>: descending). Values are
metric unless units=imperial. Results are JSON with "meta" and "data"; errors say what was wrong.
Answers in FINISH are a JSON list of bare values: numbers without units, strings in double quotes."""

ACTION_GRAMMAR = r"""
root   ::= get | finish
get    ::= "GET " [^ \n]+
finish ::= "FINISH(" list ")"
list   ::= "[" ws (value (ws "," ws value)*)? ws "]"
value  ::= number | string
number ::= "-"? [0-9]+ ("." [0-9]+)?
string ::= "\"" [^"\n]* "\""
ws     ::= " "?
"""


def draw_tasks(world: World, split_seed: int) -> dict[str, list[Task]]:
    """dev, val and test tasks from disjoint stations and cities of ``world``, the same for the same seeds."""
    rng = random.Random(f"{world.seed}:{split_seed}")
    stations, cities = list(world.stations), list(world.unserved_cities)
    rng.shuffle(stations)
    rng.shuffle(cities)
    shares = {"dev": 0.4, "val": 0.2, "test": 0.4}
    splits: dict[str, list[Task]] = {}
    start_s = start_c = 0
    for split, share in shares.items():
        own = stations[start_s:start_s + round(len(stations) * share)]
        unserved = cities[start_c:start_c + round(len(cities) * share)]
        start_s, start_c = start_s + len(own), start_c + len(unserved)
        values, nones = PER_SPLIT[split]
        tasks: list[Task] = []
        for station in own[:values]:
            tasks.append(station_id_task(split, station.city, station.id))
        for city in unserved[:nones]:
            tasks.append(station_id_task(split, city, "none"))
        with_temp = [s for s in own if any(o.element == "air_temp" for o in s.observations)]
        without_temp = [s for s in own if s not in with_temp]
        for station in with_temp[:values]:
            latest = [o for o in station.observations if o.element == "air_temp"][-1]
            tasks.append(latest_temp_task(split, station.id, latest.value))
        for station in without_temp[:nones]:
            tasks.append(latest_temp_task(split, station.id, -1))
        with_elevation = [s for s in own if s.elevation_m is not None]
        for station in with_elevation[:values]:
            tasks.append(elevation_task(split, station.id, feet(station.elevation_m)))
        for station in [s for s in own if s.elevation_m is None][:nones]:
            tasks.append(elevation_task(split, station.id, -1))
        splits[split] = tasks
    return splits


def station_id_task(split: str, city: str, expected: str) -> Task:
    return Task(id=f"{split}-station_id-{city.lower()}", family="station_id",
                instruction=f'What is the id of the weather station in {city}? Answer with the id, or "none" if the '
                            f"network has no station in {city}.",
                solution={"expected": expected}, variables={"CITY": city}, no_result=[NONE_ANSWERS["station_id"]])


def latest_temp_task(split: str, station: str, expected: float) -> Task:
    return Task(id=f"{split}-latest_temp-{station.lower()}", family="latest_temp",
                instruction=f"What was the latest air temperature, in degrees Celsius, reported by station {station}? "
                            "Answer with the number, or -1 if the station has reported no air temperature.",
                solution={"expected": expected}, variables={"STATION": station}, no_result=[NONE_ANSWERS["latest_temp"]])


def elevation_task(split: str, station: str, expected: int) -> Task:
    return Task(id=f"{split}-elevation_ft-{station.lower()}", family="elevation_ft",
                instruction=f"How high above sea level is station {station}, in feet? Answer with a whole number, "
                            "or -1 if its elevation is not on record.",
                solution={"expected": expected}, variables={"STATION": station}, no_result=[NONE_ANSWERS["elevation_ft"]])


class WeatherEnvironment(Environment):
    """Lookups against a weather network's REST API, graded on the answer."""

    name = "weather"
    max_rounds = 3
    protocol = HttpProtocol()  # the API only reads: search may resend one GET line

    def __init__(self, world_seed: int = DEV_WORLD, base_url: str | None = None, max_rounds: int = 3,
                 *, reserved: frozenset[str] = frozenset(), held_out_from: int | None = None) -> None:
        self.world_seed, self.max_rounds, self.held_out_from = world_seed, max_rounds, held_out_from
        self._world = generate(world_seed, reserved=reserved)
        self._splits = draw_tasks(self._world, split_seed=0)
        if held_out_from is not None:
            self._splits = {"test": [t.model_copy(update={"id": f"w{world_seed}-{t.id}"}) for t in self._splits["test"]]}
        self._external = base_url is not None
        self.base_url = (base_url.rstrip("/") + "/") if base_url else IN_PROCESS_BASE
        self._client: httpx.AsyncClient | None = None

    # -- what every environment writes ------------------------------------------------------
    def tasks(self, split: str) -> list[Task]:
        return list(self._splits.get(split, []))

    def instructions(self) -> str:
        return INSTRUCTIONS.format(base=self.base_url, now=NOW.strftime("%Y-%m-%dT%H:%M:%SZ"))

    def action_grammar(self) -> str:
        return ACTION_GRAMMAR

    def last_round_notice(self) -> str:
        return "This is your last action: reply with FINISH and your answer now."

    async def open(self, task: Task) -> Session:
        if self._client is None:
            transport = None if self._external else httpx.ASGITransport(app=create_app(self._world))
            self._client = httpx.AsyncClient(transport=transport, timeout=15.0)
        return WeatherSession(task, self._client, self.base_url)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- yardsticks ---------------------------------------------------------------------------
    def stratum(self, task: Task) -> str:
        return "none" if task.solution["expected"] == NONE_ANSWERS[task.family] else "value"

    def trivial_answer(self, task: Task) -> list[Any]:
        return [NONE_ANSWERS[task.family]]

    def reference_library(self) -> list[Skill]:
        """Hand-written skills for the three families (checked on dev and val only)."""
        return import_skills(REFERENCE_LIBRARY).skills

    def manifest_hash(self) -> str:
        dumped = json.dumps({split: [t.model_dump() for t in tasks] for split, tasks in sorted(self._splits.items())},
                            sort_keys=True)
        return hashlib.sha256(dumped.encode()).hexdigest()[:16]

    # -- the sealed test ----------------------------------------------------------------------
    def world(self) -> str:
        apart = f", held out from world {self.held_out_from}" if self.held_out_from is not None else ""
        where = f"the server at {self.base_url}, " if self._external else ""
        return f"{where}weather world seed {self.world_seed}{apart}, {len(self._world.stations)} stations"

    def held_out(self, seed: int) -> "WeatherEnvironment":
        """The same families on a world generated from ``seed`` that reuses none of this world's cities or
        station ids; its test split is the sealed test."""
        if self._external:
            return self
        if not 0 <= seed < 2**31:
            raise ConfigError(f"sealed_world {seed}: a held-out world seed must be from 0 to {2**31 - 1}")
        if seed == self.world_seed:
            raise ConfigError(f"sealed_world {seed} is the world dev and val are drawn from; the sealed test must "
                              "come from another world (any other seed)")
        return WeatherEnvironment(seed, max_rounds=self.max_rounds, reserved=identifiers(self._world),
                                  held_out_from=self.world_seed)


class WeatherSession(Session):
    """One episode: GET requests against the API, then FINISH."""

    def __init__(self, task: Task, client: httpx.AsyncClient, base_url: str) -> None:
        self.task, self.client, self.base_url = task, client, base_url

    async def step(self, reply: str) -> Step:
        text = str(reply).strip().strip("`").strip()
        if text.startswith("FINISH"):
            return finish(text)
        line, _, rest = text.partition("\n")  # a GET is its line; what follows is reported unread, not acted on
        verb, _, url = line.strip().partition(" ")
        url = url.strip()
        if verb != "GET" or not url or any(c.isspace() for c in url):
            return Step(observation="Reply with exactly one action: GET <url> or FINISH([...]).", invalid=True)
        unread = (f"\nOne action per reply: the text after the GET line was not read ({rest.strip()[:80]}). If that "
                  "was your next action, send it alone now.") if rest.strip() else ""
        target = urljoin(self.base_url, url.lstrip("/") if not url.startswith(("http://", "https://", "/v1")) else url)
        if urlsplit(target).netloc != urlsplit(self.base_url).netloc:
            return Step(observation=f"Refused: only {self.base_url} can be reached.", refused=True, action=f"GET {url}")
        try:
            response = await self.client.get(target)
        except httpx.HTTPError as problem:
            return Step(observation=f"The API did not answer: {type(problem).__name__}", failed=True, action=f"GET {url}")
        body = response.text[:MAX_OBSERVATION_CHARS]
        return Step(observation=f"HTTP {response.status_code}\n{body}{unread}", failed=response.status_code >= 400,
                    action=f"GET {url}")

    async def grade(self, answer: list[Any] | None) -> Grade:
        expected = self.task.solution["expected"]
        if not answer or len(answer) != 1:
            return Grade(passed=False, reason=f"answered {answer}, expected [{json.dumps(expected)}]", tags=["no-answer"])
        given = answer[0]
        if isinstance(expected, str):
            passed = isinstance(given, str) and given.strip().lower() == expected.lower()
        else:
            number = as_number(given)
            passed = number is not None and abs(number - expected) <= TOLERANCE[self.task.family]
        if passed:
            return Grade(passed=True, reason="correct")
        return Grade(passed=False, reason=f"answered {json.dumps(answer)}, expected [{json.dumps(expected)}]",
                     tags=["wrong-value"])


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value) if math.isfinite(value) else None
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def finish(text: str) -> Step:
    inside = text[len("FINISH"):].strip()
    if inside.startswith("(") and inside.endswith(")"):
        inside = inside[1:-1].strip()
    try:
        answer = json.loads(inside)
    except ValueError:
        return Step(observation='FINISH needs a JSON list, e.g. FINISH([12.5]) or FINISH(["AB1234"]).', invalid=True)
    if not isinstance(answer, list):
        answer = [answer]
    return Step(observation="", done=True, action=text, answer=answer)
