"""No reply can raise out of a FHIR session, and the server answers malformed requests with a 4xx.

The property test sends generated replies (the grammar's actions with hostile
parameters, bodies and bytes) through real sessions against the in-process
server; none may raise, whatever it is.
"""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments.fhir.environment import FhirEnvironment
from environments.fhir.server import create_app
from environments.fhir.storage import WorldStore
from grasp.environment import Step
from tests.helpers import serve

RESOURCES = ["Patient", "Observation", "Condition", "MedicationRequest", "Procedure", "ServiceRequest", "Nope", ""]
PARAMS = ["patient", "code", "date", "_sort", "_count", "_getpagesoffset", "status", "birthdate", "name", "_id",
          "sort", "category", "date:missing", "_lastUpdated", "identifier", "gender", "authoredon"]
HOSTILE_VALUES = ["9999", "le9999-12-31", "ge0001-01-01T00:00:00+14:00", "2024-02-30", "2024-13", "eq", "", "²",
                  "-date", "date,-_id", "x" * 300, "%00", "\x00", "\x7f", "\u202e", "1e309", "99999999999999999999",
                  "S0000001|", "|", ",,", "ge2024-03-14T09:30:00+00:00", "ge2024-03-14T09:30:00%2B00:00", "../admin",
                  "'; DROP TABLE resources; --", "\ud7ff", "NaN"]

text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
values = st.one_of(st.sampled_from(HOSTILE_VALUES), text)
query = st.lists(st.tuples(st.sampled_from(PARAMS), values), max_size=4).map(
    lambda pairs: "&".join(f"{k}={v}" for k, v in pairs))
paths = st.one_of(
    st.builds(lambda r, q: f"{r}?{q}", st.sampled_from(RESOURCES), query),
    st.builds(lambda r, i: f"{r}/{i}", st.sampled_from(RESOURCES), text),
    st.builds(lambda i, r, q: f"Patient/{i}/{r}?{q}", text, st.sampled_from(RESOURCES), query),
    st.sampled_from(["../_grasp/episodes/x/writes", "%2e%2e/admin", "Patient/..%2F..%2Fx", "http://evil.example/x",
                     "//evil.example/x", "metadata", "Patient?_count=5000"]),
    text,
)
bodies = st.one_of(
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | text,
                 lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
                 max_leaves=8).map(lambda value: json.dumps(value)),
    st.sampled_from(['{"resourceType": "Observation"}', '{"resourceType": "MedicationRequest", "status": 5}',
                     '{"resourceType": "ServiceRequest", "id": "x", "meta": "no"}', "{", "[]", "null"]),
    text,
)
replies = st.one_of(
    st.builds(lambda url: f"GET {{base}}{url}", paths),
    st.builds(lambda url: f"GET {url}", paths),
    st.builds(lambda verb, url, body: f"{verb} {{base}}{url}\n{body}", st.sampled_from(["POST", "PUT"]), paths, bodies),
    st.builds(lambda inner: f"FINISH({inner})", st.one_of(text, bodies)),
    st.binary(max_size=60).map(lambda raw: raw.decode("utf-8", errors="surrogateescape")),
    text,
)


@pytest.fixture(scope="module")
def hostile_env(tmp_path_factory: pytest.TempPathFactory) -> FhirEnvironment:
    from .conftest import PATIENTS, SEED

    store = WorldStore.open(SEED, PATIENTS, path=tmp_path_factory.mktemp("hostile") / "world.db")
    return FhirEnvironment(world_store=store)


def hostile_step(environment: FhirEnvironment, reply: str) -> Step:
    task = environment.tasks("dev")[0]

    async def one() -> Step:
        session = await environment.open(task)
        try:
            return await session.step(reply.replace("{base}", environment.base_url))
        finally:
            await session.close()
            await environment.aclose()  # the client belongs to this event loop

    return asyncio.run(one())


def assert_no_server_error(environment: FhirEnvironment, step: Step) -> None:
    """The server raised on nothing: its error handler saw no exception, and no observation is a 500."""
    assert environment.app is not None and environment.app.state.server_errors == []
    assert "HTTP 500" not in step.observation, step.observation


@settings(max_examples=1000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(reply=replies)
def test_no_generated_reply_raises_out_of_a_session(hostile_env: FhirEnvironment, reply: str) -> None:
    assert_no_server_error(hostile_env, hostile_step(hostile_env, reply))


def test_a_server_route_that_raises_fails_the_property_check(monkeypatch: pytest.MonkeyPatch,
                                                             world_store: WorldStore) -> None:
    """Mutation check: the property test above can fail. A search that raises on one input is seen."""
    import environments.fhir.server as server

    real = server.build_query

    def broken(rtype, params, episode, **options):
        if ("code", "BOOM") in params:
            raise RuntimeError("a bug in the server")
        return real(rtype, params, episode, **options)

    monkeypatch.setattr(server, "build_query", broken)
    environment = FhirEnvironment(world_store=world_store)
    fine = hostile_step(environment, "GET {base}Observation?code=MG")
    assert_no_server_error(environment, fine)
    step = hostile_step(environment, "GET {base}Observation?code=BOOM")
    assert step.failed and "HTTP 500" in step.observation
    with pytest.raises(AssertionError):
        assert_no_server_error(environment, step)
    assert environment.app.state.server_errors[0].endswith("RuntimeError: a bug in the server")


@pytest.mark.parametrize("query", ["date=9999", "date=le9999-12-31", "date=gt9999-12-31T23:59:59",
                                   "date=2024-02-30", "_count=²", "date=ge0001-01-01T00:00:00%2B14:00"])
def test_malformed_dates_and_counts_are_a_400_over_http(world_store: WorldStore, query: str) -> None:
    with serve(create_app(world_store)) as url:
        response = httpx.get(f"{url}/fhir/Observation?{query}")
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_a_control_character_in_the_url_is_an_observation_not_an_exception(env: FhirEnvironment) -> None:
    async def one() -> Step:
        session = await env.open(env.tasks("dev")[0])
        try:
            return await session.step(f"GET {env.base_url}Observation?code=\x00x")
        finally:
            await session.close()
            await env.aclose()

    step = asyncio.run(one())
    assert step.invalid and step.observation.startswith("Request failed")


@pytest.mark.parametrize("url", ["{base}../_grasp/episodes/x/writes", "{base}%2e%2e/_grasp", "{base}Patient/.%2E/x",
                                 "../admin", "Patient/..%2F..%2Fadmin", "%2E%2E/%2e%2e/etc", "{base}./Patient"])
def test_dot_segments_cannot_climb_out_of_the_base_path(env: FhirEnvironment, url: str) -> None:
    async def one() -> Step:
        session = await env.open(env.tasks("dev")[0])
        try:
            return await session.step("GET " + url.replace("{base}", env.base_url))
        finally:
            await session.close()
            await env.aclose()

    step = asyncio.run(one())
    assert step.refused and "only" in step.observation
