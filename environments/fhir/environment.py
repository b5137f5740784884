"""The FHIR environment: tasks from the manifest, episodes against the FHIR server.

By default the server runs in process (httpx's ASGI transport: no ports, safe
in parallel); ``base_url`` targets a server over real HTTP instead, ours
(``grasp env serve fhir``) or any other FHIR R4 server.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
from starlette.applications import Starlette

from grasp.environment import Environment, Hints, ProposerBrief, Session, Step
from grasp.skillfiles import import_skills
from grasp.skills import Skill
from grasp.errors import ConfigError, EnvironmentError_
from grasp.tasks import Grade, Task
from probes.manifest import Manifest, manifest_path

from ..http_api import HttpProtocol
from .families import FAMILIES
from .protocol import ACTION_GRAMMAR, Action, parse_action
from .linter import corrected, mended_writes, rejection, write_rejection
from .search import RESOURCE_TYPES
from .server import EPISODE_HEADER, create_app
from .storage import WorldStore, world_path
from .tasks import draw_manifest
from .world import DEFAULT_PATIENTS, DEFAULT_SEED, generate
from .variables import DESCRIPTIONS, MRN_PATTERN, with_variables

IN_PROCESS_BASE = "http://fhir.local/fhir/"
REFERENCE_LIBRARY = Path(__file__).parent / "reference_library"
SKILL_REQUEST = re.compile(r"\b(" + "|".join(RESOURCE_TYPES) + r")\?([^\s`'\"]+)")
SENTENCE_END = ".,;:)?"  # punctuation after a request written in a sentence, not part of its query
MAX_OBSERVATION_CHARS = 4000

INSTRUCTIONS = """You are an assistant working in a hospital's FHIR R4 electronic health record.
Each reply must be exactly ONE action, and nothing else:
GET {base}<Resource>?<params>
POST {base}<Resource>
<one JSON object, the FHIR resource>
PUT {base}<Resource>/<id>
<the whole updated JSON resource>
FINISH([answer1, answer2, ...])
Resources: Patient, Observation, Condition, MedicationRequest, Procedure, ServiceRequest.
Search parameters: Patient: identifier, name, family, given, birthdate, gender. Observation: patient, code, category,
date, status. MedicationRequest: patient, status, category, authoredon. Procedure: patient, code, date.
ServiceRequest: patient, code, status, authored. Condition: patient, code, category.
All searches accept _sort=date or _sort=-date (newest first), _count=N, _elements=a,b (only those top-level
elements of each resource, e.g. _elements=valueQuantity,effectiveDateTime) and _summary=count (the total, no entries).
Dates take prefixes eq, gt, ge, lt, le; write '+' as %2B in a URL. Results come as a Bundle with 'total' and 'entry'.
Answers in FINISH are a JSON list of bare values: numbers without units, strings in double quotes."""


WRITE_TOKENS = 640

BRIEF = ProposerBrief(
    persona="You are an expert in FHIR REST APIs who coaches an agent. You write a skill: a short numbered "
            "checklist the agent will read before similar tasks, so that it avoids the mistake it made.",
    # The format, on a shape no task family answers with (a count of conditions, read from the Bundle's
    # total): an example that is one family's answer is copied as that answer, and then what is learned is
    # the example, not the method (a lab example's "If the total is 0, FINISH([-1])" was copied word for word).
    example="---\naction: ADD\nname: count-conditions\ndescription: Use when asked how many conditions a patient has "
            "on record.\n---\n1. GET Condition?patient=<MRN>&_summary=count\n2. FINISH([<total>]) with <total> = the "
            "Bundle's total, a number.\n",
)


class FhirHints(Hints):
    """What FHIR tells the learner: which requests and write bodies its server would reject and why (FHIR R4,
    ``fhir.resources``), the corrections it can make itself, a brief for the writer, what each placeholder means."""

    def check_skill(self, text: str) -> str | None:
        """The first search request written in ``text`` that this server would reject, with its reason
        and, where the server can tell, the request corrected (misspelt parameters renamed, '+' encoded):
        a small model copies a corrected request far more reliably than it applies a rule. Then the first
        write whose body the server would refuse, with the field its 400 names (FHIR R4, ``fhir.resources``)."""
        for rtype, query in SKILL_REQUEST.findall(text):
            query = query.rstrip(SENTENCE_END)
            problem = rejection(rtype, query)
            if problem is None:
                continue
            fixed = corrected(rtype, query)
            if fixed != query:
                left = rejection(rtype, fixed)
                if left is None:
                    problem += f". Write it as: {rtype}?{fixed}"
                elif left != problem:  # name both, so that one repair can fix both
                    problem += f". With that fixed, {rtype}?{fixed} still fails: {left}"
            return f"{rtype}?{query}: {problem}"
        return write_rejection(text)

    def mend_skill(self, text: str) -> str:
        """``text`` with each request this server would reject replaced by the correction ``check_skill``
        offers (misspelt parameters renamed, '+' encoded in dates, literal record filters dropped, a write's body
        moved under its line), where there is one; what is still wrong after it is left for the proposer."""
        def mend(match: re.Match[str]) -> str:
            rtype, written = match.group(1), match.group(2)
            query = written.rstrip(SENTENCE_END)
            if rejection(rtype, query) is None:
                return match.group(0)
            return f"{rtype}?{corrected(rtype, query)}{written[len(query):]}"

        return mended_writes(SKILL_REQUEST.sub(mend, text))

    def proposer_brief(self) -> ProposerBrief:
        return BRIEF

    def variable_notes(self) -> dict[str, str]:
        return dict(DESCRIPTIONS)


class FhirProtocol(HttpProtocol):
    """FHIR's one-line requests, as search sees them."""

    def replayable(self, action: str) -> bool:
        """A GET and nothing after it: a read changes nothing, and each session's writes are its own."""
        parsed = parse_action(action)
        return isinstance(parsed, Action) and parsed.kind == "GET" and not parsed.ignored


class FhirEnvironment(Environment):
    """Clinical tasks against a FHIR R4 server, graded by the server state each episode leaves."""

    name = "fhir"
    protocol = FhirProtocol()

    def __init__(
        self,
        *,
        manifest: Manifest | None = None,
        base_url: str | None = None,
        max_rounds: int = 8,
        max_observation_chars: int = MAX_OBSERVATION_CHARS,
        world_store: WorldStore | None = None,
    ) -> None:
        self.manifest = manifest or Manifest.load(manifest_path("fhir"))
        self.max_rounds = max_rounds
        self.max_observation_chars = max_observation_chars
        self._external = base_url is not None
        self.base_url = (base_url.rstrip("/") + "/") if base_url else IN_PROCESS_BASE
        self._world_store = world_store
        self._client: httpx.AsyncClient | None = None
        self.app: Starlette | None = None  # the in-process server, once started (its state holds server_errors)

    def tasks(self, split: str) -> list[Task]:
        return [self.prescribed(task) for task in self.manifest.split(split)]

    def prescribed(self, task: Task) -> Task:
        """``task`` with its values and the no-result answer its instruction prescribes (its family's)."""
        task = with_variables(task)
        return task.model_copy(update={"no_result": self.trivial_answer(task) or None})

    def manifest_hash(self) -> str:
        return self.manifest.hash

    def world(self) -> str:
        world = self.manifest.world
        where = f"the server at {self.base_url}, " if self._external else ""
        apart = f", held out from world {world['apart_from']}" if "apart_from" in world else ""
        return f"{where}fhir world seed {world.get('seed', DEFAULT_SEED)}{apart}, {world.get('patients', DEFAULT_PATIENTS)} patients"

    def held_out(self, seed: int) -> "FhirEnvironment":
        """The same families on a world generated from ``seed``, with none of this world's MRNs: its test split
        (drawn as the shipped manifest's is) is the sealed test. An external server serves its own records and
        cannot be handed a new world, so there the sealed test stays this manifest's test split."""
        if self._external:
            return self
        home = self.manifest.world
        home_seed, patients = int(home.get("seed", DEFAULT_SEED)), int(home.get("patients", DEFAULT_PATIENTS))
        if not 0 <= seed < 2**31:
            raise ConfigError(f"sealed_world {seed}: a held-out world seed must be from 0 to {2**31 - 1}")
        if seed == home_seed:
            raise ConfigError(f"sealed_world {seed} is the world dev and val are drawn from; the sealed test must "
                              "come from another world (any other seed)")
        reserved = home_mrns(home_seed, patients)
        try:
            drawn = draw_manifest(seed, patients, reserved=reserved)
        except Exception as error:  # noqa: BLE001 - whatever stops a world from being built, said in one line
            raise ConfigError(f"sealed_world {seed}: the held-out world cannot be built ({type(error).__name__}: "
                              f"{error})") from None
        tasks = [task.model_copy(update={"id": f"w{seed}-{task.id}"}) for task in drawn.split("test")]
        if not tasks:
            raise ConfigError(f"sealed_world {seed}: the held-out world cannot be built: {patients} patients give "
                              "no test task")
        manifest = Manifest(environment="fhir", world={**drawn.world, "apart_from": home_seed},
                            splits={"test": tasks})
        store = WorldStore.open(seed, patients, path=world_path(seed, patients, held_out_from=home_seed),
                                reserved=reserved)
        return FhirEnvironment(manifest=manifest, max_rounds=self.max_rounds,
                               max_observation_chars=self.max_observation_chars, world_store=store)

    def instructions(self) -> str:
        return INSTRUCTIONS.format(base=self.base_url)

    def action_grammar(self) -> str:
        return ACTION_GRAMMAR

    def last_round_notice(self) -> str:
        return "This is your last action: reply with FINISH and your answer now."

    def action_tokens(self, reply: str) -> int | None:
        """A write carries a whole resource as JSON, many times the length of a one-line read: it gets
        ``WRITE_TOKENS``, room for a medication order with its dosage; a read keeps the executor's limit."""
        return WRITE_TOKENS if reply.lstrip("`\n ").startswith(("POST", "PUT")) else None

    def hints(self) -> Hints:
        """FHIR's help to the learner: its linter and mender in the server's own words, a brief, placeholder notes."""
        return FhirHints()

    def stratum(self, task: Task) -> str:
        """"none" when doing nothing is right: the expected answer is the family's no-result answer (-1,
        "Patient not found"), or an order family's branch where no order is due; "value" otherwise. Decided
        by the family's own grader on the trivial answer with no writes, so the two can never disagree."""
        family = FAMILIES.get(task.family)
        if family is None:
            return "value"
        return "none" if family.grade(task, self.trivial_answer(task), []).passed else "value"

    def trivial_answer(self, task: Task) -> list[Any] | None:
        """The family's no-result answer, without a single request; an empty answer where there is none."""
        none = getattr(FAMILIES.get(task.family), "none_answer", None)
        return [none] if none is not None else []

    def reference_library(self) -> list[Skill]:
        """The hand-written lookup skills in ``reference_library/`` (checked on dev and val only)."""
        return import_skills(REFERENCE_LIBRARY).skills

    def common_words(self) -> frozenset[str]:
        return frozenset({"patient"})  # in nearly every task: a skill sharing it is not thereby relevant

    def mask_identifiers(self, text: str) -> str:
        """Patient ids the task did not declare (other patients in a Bundle, say) become <MRN>."""
        return MRN_PATTERN.sub("<MRN>", text)

    def client(self) -> httpx.AsyncClient:
        """The HTTP client every episode shares; it can reach only this environment's server."""
        if self._client is None:
            if self._external:
                transport: httpx.AsyncBaseTransport = httpx.AsyncHTTPTransport(retries=1)
            else:
                if self._world_store is None:
                    world = self.manifest.world
                    self._world_store = WorldStore.open(int(world.get("seed", 42)), int(world.get("patients", 100)))
                # A server bug answers 500 in process exactly as over HTTP, never an exception in the client.
                self.app = self.app or create_app(self._world_store)
                transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            self._client = httpx.AsyncClient(transport=transport, base_url=self.base_url, timeout=30.0)
        return self._client

    async def open(self, task: Task) -> Session:
        if task.family not in FAMILIES:
            raise EnvironmentError_(f"task {task.id}: unknown FHIR task family {task.family!r}")
        return FhirSession(self, task)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


@functools.cache
def home_mrns(seed: int, patients: int) -> frozenset[str]:
    """The MRNs of the world of ``seed``: a world held out from it reserves them."""
    return frozenset(patient["id"] for patient in generate(seed, patients).patients())


def without_echo(text: str) -> str:
    """A response as the agent reads it: a Bundle without its ``self`` link, which repeats the request the
    agent just wrote (HAPI sends it; the server here does too). It was a quarter of the tokens the executor
    read from the server on the main job (seed 0: 2.6k of 12.4k, ~60 s of prompt processing on 2 cores), and
    the longest where the request was junk. ``next`` stays: it is how to page. Anything else is unchanged."""
    if '"self"' not in text:
        return text
    try:
        body = json.loads(text)
    except ValueError:
        return text
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle" or not isinstance(body.get("link"), list):
        return text
    links = [link for link in body["link"] if not (isinstance(link, dict) and link.get("relation") == "self")]
    trimmed = {key: (links if key == "link" else value) for key, value in body.items() if key != "link" or links}
    return json.dumps(trimmed, separators=(",", ":"))


def ignored_note(action: Action, done: bool = True) -> str:
    """What the agent must be told when text after a write's body was not read: one action per reply. The
    write is done and must not be sent again (told only "send it as your next reply", the embedded model sent
    the same body and FINISH in every round: 4 records where one was asked, dev record_bp 0/4)."""
    if not action.ignored:
        return ""
    shown = action.ignored if len(action.ignored) <= 80 else action.ignored[:80] + "..."
    write = action.kind in {"POST", "PUT"}
    outcome = f"The {action.kind} was done: do not send it again. " if done and write else ""
    after = "its JSON body" if write else "the GET line"
    return (f"\n{outcome}One action per reply: the text after {after} was not read ({shown}). If that was "
            "your next action, send it alone now.")


class FhirSession(Session):
    def __init__(self, environment: FhirEnvironment, task: Task) -> None:
        self.env = environment
        self.task = task
        self.episode = uuid.uuid4().hex
        self.posted: list[dict[str, Any]] = []  # accepted writes, as the server returned them

    async def step(self, reply: str) -> Step:
        """Every reply becomes a Step: a request the transport cannot even send (a control character
        in the URL, say) is an observation for the agent, not an exception for the loop."""
        try:
            return await self._step(reply)
        except Exception as error:  # noqa: BLE001 - the Session contract: never raise on any text
            return Step(observation=f"Request failed: {type(error).__name__}: {str(error)[:300]}", invalid=True)

    async def _step(self, reply: str) -> Step:
        parsed = parse_action(reply)
        if not isinstance(parsed, Action):
            return Step(observation=f"Invalid action. {parsed.hint}", invalid=True)
        if parsed.kind == "FINISH":
            return Step(observation="", done=True, action=f"FINISH({json.dumps(parsed.answer)})", answer=parsed.answer)
        path = self._path_within(parsed.url)
        label = f"{parsed.kind} {parsed.url}"
        if path is None:
            return Step(
                observation=f"Refused: only {self.env.base_url} can be reached from here.",
                invalid=True,
                refused=True,
                action=label,
            )
        try:
            response = await self.env.client().request(
                parsed.kind, path, json=parsed.body, headers={EPISODE_HEADER: self.episode}
            )
        except (httpx.HTTPError, httpx.InvalidURL) as error:
            return Step(observation=f"Request failed: {type(error).__name__}: {error}", invalid=True, action=label)
        if parsed.kind in {"POST", "PUT"} and response.status_code in (200, 201):
            self.posted.append(response.json())
            location = response.headers.get("Location", "")
            observation = f"HTTP {response.status_code}. {'Created ' + location if location else 'Updated.'}"
        else:
            observation = f"HTTP {response.status_code}\n{self._clip(without_echo(response.text))}"
        note = ignored_note(parsed, done=response.status_code < 400)
        return Step(observation=observation + note, action=label, failed=response.status_code >= 400)

    def _path_within(self, url: str) -> str | None:
        """The request path relative to the base URL, or None when ``url`` leaves the environment.

        Dot segments are refused after percent-decoding (``..``, ``%2e%2e``, ``.%2E``), so a path
        can never climb out of the base path, in process or against an external server."""
        base = self.env.base_url
        if url.startswith(base):
            path = url[len(base):]
        elif "://" in url or url.startswith("//") or url.startswith("/") or url.startswith("\\"):
            return None
        else:
            path = url
        route = unquote(path.split("?", 1)[0].split("#", 1)[0]).replace("\\", "/")
        if any(segment in {".", ".."} for segment in route.split("/")) or "://" in route or route.startswith("/"):
            return None
        return path

    def _clip(self, text: str) -> str:
        limit = self.env.max_observation_chars
        if len(text) <= limit:
            return text
        return text[:limit] + f"... [truncated {len(text) - limit} characters; narrow the search with _count, _sort or date]"

    def _admin_url(self, suffix: str = "") -> str:
        return str(httpx.URL(self.env.base_url).join(f"../_grasp/episodes/{self.episode}{suffix}"))

    async def writes(self) -> list[dict[str, Any]]:
        """What the episode left on the server; a foreign server without our
        episode endpoint falls back to the writes it accepted."""
        try:
            response = await self.env.client().get(self._admin_url("/writes"))
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            if not self.env._external:
                raise
        return self.posted

    async def grade(self, answer: list[Any] | None) -> Grade:
        return FAMILIES[self.task.family].grade(self.task, answer, await self.writes())

    async def close(self) -> None:
        """Drop the episode's writes; a server that is gone has nothing left to drop."""
        with contextlib.suppress(httpx.HTTPError):
            await self.env.client().delete(self._admin_url())
