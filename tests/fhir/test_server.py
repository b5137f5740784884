"""The FHIR server: search semantics against hand-computed answers, paging, isolation, errors."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from datetime import datetime

import httpx
import pytest
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from environments.fhir.server import EPISODE_HEADER, create_app
from environments.fhir.storage import WorldStore
from environments.fhir.world import generate

from .conftest import PATIENTS, SEED

WORLD = generate(SEED, PATIENTS)
FIRST = WORLD.patients()[0]
MRN = FIRST["id"]


def observations(mrn: str, code: str) -> list[dict]:
    return [r for r in WORLD.resources if r["resourceType"] == "Observation"
            and r["subject"]["reference"] == f"Patient/{mrn}" and r["code"]["coding"][0]["code"] == code]


def when(resource: dict) -> datetime:
    return datetime.fromisoformat(resource["effectiveDateTime"])


def ids(response: httpx.Response) -> list[str]:
    return [entry["resource"]["id"] for entry in response.json().get("entry", [])]


def test_patient_search_parameters(get) -> None:
    family, given_name = FIRST["name"][0]["family"], FIRST["name"][0]["given"][0]
    expected = {p["id"] for p in WORLD.patients() if p["name"][0]["family"] == family}
    assert set(ids(get(f"Patient?family={family[:3].lower()}&_count=100"))) >= expected
    found = ids(get(f"Patient?given={given_name.upper()}&family={family}&birthdate={FIRST['birthDate']}"))
    assert found == [MRN]
    assert ids(get(f"Patient?identifier={MRN}")) == [MRN]
    assert ids(get(f"Patient?name={family}&birthdate=1800-01-01")) == []
    genders = {p["id"] for p in WORLD.patients() if p["gender"] == "female"}
    assert set(ids(get("Patient?gender=female&_count=100"))) == genders


@pytest.mark.parametrize("reference", [MRN, f"Patient/{MRN}"])
def test_observation_by_patient_and_code_forms(get, reference: str) -> None:
    expected = observations(MRN, "GLU")
    for query in (f"patient={reference}&code=GLU", f"subject={reference}&code=http://loinc.org|GLU"):
        assert get(f"Observation?{query}").json()["total"] == len(expected)
    both = len(expected) + len(observations(MRN, "K"))
    assert get(f"Observation?patient={reference}&code=GLU,K").json()["total"] == both


@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "ge", "lt", "le"])
def test_date_prefixes_match_hand_computed_answers(get, prefix: str) -> None:
    series = observations(MRN, "GLU")
    pivot = sorted(series, key=when)[len(series) // 2]
    stamp = pivot["effectiveDateTime"].replace("+", "%2B")
    moment = when(pivot)
    compare = {"eq": moment.__eq__, "ne": moment.__ne__, "gt": moment.__lt__, "ge": moment.__le__,
               "lt": moment.__gt__, "le": moment.__ge__}[prefix]
    expected = {r["id"] for r in series if compare(when(r))}
    got = get(f"Observation?patient={MRN}&code=GLU&date={prefix}{stamp}&_count=5000")
    assert set(ids(got)) == expected


def test_date_precision_and_sorting(get) -> None:
    series = observations(MRN, "GLU")
    day = sorted(series, key=when)[-1]["effectiveDateTime"][:10]
    expected = {r["id"] for r in series if r["effectiveDateTime"].startswith(day)}
    assert set(ids(get(f"Observation?patient={MRN}&code=GLU&date={day}&_count=500"))) == expected
    newest = ids(get(f"Observation?patient={MRN}&code=GLU&_sort=-date&_count=3"))
    assert newest == [r["id"] for r in sorted(series, key=when, reverse=True)[:3]]
    oldest = ids(get(f"Observation?patient={MRN}&code=GLU&_sort=date&_count=1"))
    assert oldest == [min(series, key=when)["id"]]


def test_an_unsorted_search_returns_records_in_the_order_they_were_stored_oldest_first(get) -> None:
    """Only ``_sort=-date`` finds the latest result: a skill without it must not pass by accident."""
    for patient in WORLD.patients()[:10]:
        series = observations(patient["id"], "GLU")
        if len(series) < 2:
            continue
        first = ids(get(f"Observation?patient={patient['id']}&code=GLU&_count=1"))
        assert first == [min(series, key=when)["id"]]
        assert first != [max(series, key=when)["id"]]


def test_paging_with_next_links_visits_every_result_once(get) -> None:
    url = f"Observation?patient={MRN}&code=GLU&_count=7"
    seen: list[str] = []
    while url:
        bundle = get(url).json()
        seen += [e["resource"]["id"] for e in bundle.get("entry", [])]
        assert all(e["search"]["mode"] == "match" and e["fullUrl"].endswith(e["resource"]["id"]) for e in bundle["entry"])
        url = next((l["url"].split("/fhir/", 1)[1] for l in bundle["link"] if l["relation"] == "next"), "")
    assert sorted(seen) == sorted(r["id"] for r in observations(MRN, "GLU"))
    assert len(seen) == len(set(seen))


def test_bundle_shape_and_default_page(get) -> None:
    bundle = get(f"Observation?patient={MRN}").json()
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    assert len(bundle["entry"]) == 20 and bundle["total"] > 20
    assert bundle["entry"][0]["resource"]["effectiveDateTime"].endswith("+00:00")


@pytest.mark.parametrize(
    ("url", "status", "fragment"),
    [
        ("Observation?bogus=1", 400, "Unknown search parameter 'bogus'"),
        ("Observation?date=ge2024-03-14T09:30:00+00:00", 400, "encode it as %2B"),
        ("Observation?date=yesterday", 400, "Invalid date value"),
        ("Observation?_count=lots", 400, "whole number"),
        ("Observation?_sort=value", 400, "Cannot sort"),
        ("Spaceship?x=1", 404, "Unknown resource type"),
        ("Observation/999999999", 404, "not known"),
        ("metadata/extra", 404, ""),
    ],
)
def test_bad_requests_get_an_operation_outcome(get, url: str, status: int, fragment: str) -> None:
    response = get(url)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"
    assert fragment in response.json()["issue"][0]["diagnostics"]


def test_metadata_is_a_capability_statement(get) -> None:
    body = get("metadata").json()
    assert body["resourceType"] == "CapabilityStatement" and body["fhirVersion"].startswith("4.0")


def test_writes_are_isolated_per_episode_and_vanish_afterwards(get, world_store: WorldStore) -> None:
    order = {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
             "subject": {"reference": f"Patient/{MRN}"}, "code": {"text": "x-ray"}}
    before = get(f"ServiceRequest?patient={MRN}").json()["total"]

    created = get("ServiceRequest", episode="a", method="POST", body=order)
    assert created.status_code == 201 and "/fhir/ServiceRequest/" in created.headers["Location"]
    assert get(f"ServiceRequest?patient={MRN}", episode="a").json()["total"] == before + 1
    assert get(f"ServiceRequest?patient={MRN}", episode="b").json()["total"] == before
    rid = created.json()["id"]
    assert get(f"ServiceRequest/{rid}", episode="b").status_code == 404
    assert world_store.writes("a")[0]["id"] == rid
    get("../_grasp/episodes/a", method="DELETE")
    assert get(f"ServiceRequest?patient={MRN}", episode="a").json()["total"] == before


def test_concurrent_episodes_do_not_see_each_other(world_store: WorldStore) -> None:
    app = create_app(world_store)

    async def episode(client: httpx.AsyncClient, name: str) -> tuple[int, list[str]]:
        body = {"resourceType": "Observation", "status": "final", "code": {"text": "BP"},
                "subject": {"reference": f"Patient/{MRN}"}, "valueString": f"{name} mmHg"}
        for _ in range(3):
            await client.post("Observation", json=body, headers={EPISODE_HEADER: name})
            await asyncio.sleep(0)
        found = await client.get(f"Observation?patient={MRN}&code=BP&_count=5000", headers={EPISODE_HEADER: name})
        mine = [e["resource"].get("valueString") for e in found.json()["entry"] if e["resource"]["id"].startswith("e")]
        return len(world_store.writes(name)), mine

    async def run():
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t/fhir/") as client:
            return await asyncio.gather(*(episode(client, f"ep{i}") for i in range(6)))

    for index, (count, values) in enumerate(asyncio.run(run())):
        assert count == 3 and values == [f"ep{index} mmHg"] * 3
    for index in range(6):
        world_store.drop_episode(f"ep{index}")


def test_update_stops_an_order_only_inside_the_episode(get) -> None:
    order = next(r for r in WORLD.resources if r["resourceType"] == "MedicationRequest" and r["status"] == "active")
    stopped = {**order, "status": "stopped"}
    assert get(f"MedicationRequest/{order['id']}", episode="u", method="PUT", body=stopped).status_code == 200
    assert get(f"MedicationRequest/{order['id']}", episode="u").json()["status"] == "stopped"
    mine = ids(get(f"MedicationRequest?patient={order['subject']['reference']}&status=active", episode="u"))
    assert order["id"] not in mine
    assert get(f"MedicationRequest/{order['id']}", episode="v").json()["status"] == "active"
    get("../_grasp/episodes/u", method="DELETE")


QUERY_KEYS = st.sampled_from(["patient", "code", "date", "_count", "_sort", "name", "birthdate", "status", "x", "_id",
                              "category", "subject", "given", "identifier", "gender", "_getpagesoffset"])
QUERY_VALUES = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rtype=st.sampled_from(["Patient", "Observation", "MedicationRequest", "Nope", "ServiceRequest"]),
       params=st.lists(st.tuples(QUERY_KEYS, QUERY_VALUES), max_size=4))
def test_fuzzed_queries_never_cause_a_server_error(get, rtype: str, params: list[tuple[str, str]]) -> None:
    response = get(f"{rtype}?{httpx.QueryParams(params)}")
    assert response.status_code < 500, response.text


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                         lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
                         max_leaves=10),
       rtype=st.sampled_from(["Observation", "MedicationRequest", "ServiceRequest", "Patient"]))
def test_fuzzed_bodies_never_cause_a_server_error(get, body: object, rtype: str) -> None:
    if isinstance(body, dict):
        body.setdefault("resourceType", rtype)
    response = get(rtype, method="POST", body=body, episode="fuzz")
    assert response.status_code < 500, response.text


def test_one_search_over_real_http(world_store: WorldStore) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(world_store), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.time() + 10
        while not server.started and time.time() < deadline:
            time.sleep(0.05)
        response = httpx.get(f"http://127.0.0.1:{port}/fhir/Observation",
                             params={"patient": MRN, "code": "GLU", "_sort": "-date", "_count": 1})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/fhir+json")
        latest = max(observations(MRN, "GLU"), key=when)
        assert response.json()["entry"][0]["resource"] == latest
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("rtype, query", [
    ("Observation", "code=MG&_sort=-date"),
    ("Observation", "code=GLU&date=ge2024-03-14T09:30:00%2B00:00&_sort=-date&_count=1"),
    ("Observation", "_count=3"),  # paging: the next link stays in the compartment
    ("MedicationRequest", "status=active"),
    ("Procedure", ""),
    ("Condition", ""),
    ("ServiceRequest", ""),
    ("Patient", ""),
])
def test_a_patient_compartment_search_equals_the_type_level_search(get, rtype: str, query: str) -> None:
    """`GET Patient/<id>/<type>?...` (FHIR R4 compartment search, which HAPI serves) answers like the
    type-level search scoped to that patient, with the same paging."""
    scope = f"_id={MRN}" if rtype == "Patient" else f"patient={MRN}"
    typed = get(f"{rtype}?{scope}&{query}".rstrip("&")).json()
    compartment = get(f"Patient/{MRN}/{rtype}?{query}".rstrip("?")).json()
    assert compartment["total"] == typed["total"] and compartment["total"] > 0
    assert [e["resource"]["id"] for e in compartment.get("entry", [])] == [e["resource"]["id"] for e in typed.get("entry", [])]
    links = {link["relation"]: link["url"] for link in compartment["link"]}
    if "next" in links:
        assert f"/fhir/Patient/{MRN}/{rtype}?" in links["next"]
        follow = get(links["next"].split("/fhir/", 1)[1]).json()
        typed_next = get({l["relation"]: l["url"] for l in typed["link"]}["next"].split("/fhir/", 1)[1]).json()
        assert [e["resource"]["id"] for e in follow["entry"]] == [e["resource"]["id"] for e in typed_next["entry"]]


def test_a_compartment_search_keeps_the_type_level_errors(get) -> None:
    response = get(f"Patient/{MRN}/Observation?sort=-date")
    assert response.status_code == 400 and "Did you mean '_sort'?" in response.text
    assert get(f"Patient/{MRN}/Nope?code=x").status_code == 404
    other = WORLD.patients()[1]["id"]
    assert get(f"Patient/{MRN}/Observation?patient={other}").json()["total"] == 0  # both scopes apply
