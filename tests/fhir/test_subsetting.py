"""``_elements`` and ``_summary``: less of each resource, as HAPI serves it, on searches, compartments and pages."""

from __future__ import annotations

import httpx
import pytest

from environments.fhir.environment import FhirEnvironment
from environments.fhir.server import create_app
from environments.fhir.storage import WorldStore
from environments.fhir.subset import SUBSETTED

from ..helpers import serve
from .test_server import MRN, observations, when

SUBSET_TAG = {"system": SUBSETTED["system"], "code": "SUBSETTED"}


def test_elements_keep_exactly_the_named_elements_of_each_full_resource(get) -> None:
    full = get(f"Observation?patient={MRN}&code=GLU&_sort=-date&_count=5").json()
    small = get(f"Observation?patient={MRN}&code=GLU&_sort=-date&_count=5&_elements=valueQuantity").json()
    assert small["total"] == full["total"] and len(small["entry"]) == len(full["entry"]) == 5
    for whole, part in zip(full["entry"], small["entry"], strict=True):
        resource, subset = whole["resource"], part["resource"]
        assert part["fullUrl"] == whole["fullUrl"]
        assert set(subset) == {"resourceType", "id", "meta", "valueQuantity"}
        assert subset["resourceType"] == resource["resourceType"] and subset["id"] == resource["id"]
        assert subset["valueQuantity"] == resource["valueQuantity"]
        assert SUBSET_TAG in subset["meta"]["tag"]
        assert {k: v for k, v in subset["meta"].items() if k != "tag"} == {
            k: v for k, v in resource["meta"].items() if k != "tag"}
    latest = max(observations(MRN, "GLU"), key=when)
    assert small["entry"][0]["resource"]["valueQuantity"]["value"] == latest["valueQuantity"]["value"]


def test_elements_accept_a_list_a_type_prefix_and_a_choice_base_name(get) -> None:
    listed = get(f"Observation?patient={MRN}&code=GLU&_count=2&_elements=Observation.code,effectiveDateTime").json()
    assert all(set(e["resource"]) == {"resourceType", "id", "meta", "code", "effectiveDateTime"} for e in listed["entry"])
    choice = get(f"Observation?patient={MRN}&code=GLU&_count=2&_elements=value").json()
    assert all("valueQuantity" in e["resource"] and "code" not in e["resource"] for e in choice["entry"])
    patients = get(f"Patient?_id={MRN}&_elements=id").json()
    assert patients["entry"][0]["resource"]["id"] == MRN and "name" not in patients["entry"][0]["resource"]


def test_paging_links_keep_the_subset(get) -> None:
    first = get(f"Observation?patient={MRN}&_count=2&_elements=valueQuantity").json()
    following = next(link["url"] for link in first["link"] if link["relation"] == "next")
    assert "_elements=valueQuantity" in following
    second = get(following.split("/fhir/", 1)[1]).json()
    assert second["entry"] and all(set(e["resource"]) <= {"resourceType", "id", "meta", "valueQuantity"}
                                   for e in second["entry"])
    assert {e["resource"]["id"] for e in first["entry"]}.isdisjoint({e["resource"]["id"] for e in second["entry"]})


def test_a_compartment_search_takes_the_subset_too(get) -> None:
    typed = get(f"Observation?patient={MRN}&code=GLU&_sort=-date&_count=3&_elements=valueQuantity").json()
    compartment = get(f"Patient/{MRN}/Observation?code=GLU&_sort=-date&_count=3&_elements=valueQuantity").json()
    assert [e["resource"] for e in compartment["entry"]] == [e["resource"] for e in typed["entry"]]


def test_summary_count_gives_the_total_and_no_entries(get) -> None:
    full = get(f"Observation?patient={MRN}&code=GLU").json()
    counted = get(f"Observation?patient={MRN}&code=GLU&_summary=count").json()
    assert counted["total"] == full["total"] == len(observations(MRN, "GLU")) > 0
    assert "entry" not in counted and not any(link["relation"] == "next" for link in counted["link"])
    nobody = get("Patient?family=Nobodyatall&_summary=count").json()
    assert nobody["total"] == 0 and "entry" not in nobody


def test_summary_true_keeps_summary_elements_and_false_keeps_everything(get) -> None:
    full = get(f"Patient?_id={MRN}").json()["entry"][0]["resource"]
    summary = get(f"Patient?_id={MRN}&_summary=true").json()["entry"][0]["resource"]
    assert summary["id"] == MRN and summary["name"] == full["name"] and summary["birthDate"] == full["birthDate"]
    assert get(f"Patient?_id={MRN}&_summary=false").json()["entry"][0]["resource"] == full


@pytest.mark.parametrize("query, fragment", [
    ("_elements=valueQuantityy", "has no element 'valueQuantityy'"),
    ("_elements=valueQuantity.value", "is not a top-level element"),
    ("_elements=", "not a top-level element name"),
    ("_summary=text", "_summary='text' is not supported"),
    ("_summary=count&_elements=code", "either _elements or _summary"),
    ("_elements=code&_elements=status", "given once"),
])
def test_bad_subsetting_values_are_a_400_that_names_them(get, query: str, fragment: str) -> None:
    response = get(f"Observation?patient={MRN}&{query}")
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert fragment in response.json()["issue"][0]["diagnostics"]


def test_the_agents_api_description_lists_the_subsetting_parameters(env: FhirEnvironment) -> None:
    text = env.instructions()
    assert "_elements=" in text and "_summary=count" in text


def test_elements_over_real_http(world_store: WorldStore) -> None:
    with serve(create_app(world_store)) as base:
        response = httpx.get(f"{base}/fhir/Observation", params={"patient": MRN, "code": "GLU", "_sort": "-date",
                                                                 "_count": 1, "_elements": "valueQuantity"})
    latest = max(observations(MRN, "GLU"), key=when)
    resource = response.json()["entry"][0]["resource"]
    assert resource["valueQuantity"] == latest["valueQuantity"] and "code" not in resource
