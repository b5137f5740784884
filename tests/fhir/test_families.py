"""Every family: a correct solution passes, typical wrong ones fail."""

from __future__ import annotations

import asyncio
import json
import re

import pytest

from environments.fhir.environment import FhirEnvironment
from environments.fhir.linter import rejection
from environments.fhir.families import FAMILIES
from environments.fhir.reference import reference_actions, run_reference
from grasp.tasks import Task
from probes.manifest import Manifest


def all_tasks(manifest: Manifest) -> list[Task]:
    return [task for tasks in manifest.splits.values() for task in tasks]


async def play(env: FhirEnvironment, task: Task, actions: list[str]):
    session = await env.open(task)
    answer = None
    try:
        for action in actions:
            step = await session.step(action)
            if step.done:
                answer = step.answer
        return await session.grade(answer)
    finally:
        await session.close()


def test_every_family_has_tasks_in_the_manifest(manifest: Manifest) -> None:
    families = {task.family for task in all_tasks(manifest)}
    assert families == set(FAMILIES)


def test_reference_solutions_pass_every_task(env: FhirEnvironment, manifest: Manifest) -> None:
    async def run() -> list[tuple[str, str]]:
        failures = []
        for task in all_tasks(manifest):
            session = await env.open(task)
            answer = await run_reference(session, task)
            grade = await session.grade(answer)
            await session.close()
            if not grade.passed:
                failures.append((task.id, grade.reason))
        await env.aclose()
        return failures

    assert asyncio.run(run()) == []


def wrong_variants(task: Task) -> dict[str, list[str]]:
    """Typical mistakes for a task, as action lists."""
    actions = reference_actions(task)
    finish, writes = actions[-1], [a for a in actions[:-1] if a.startswith("POST")]
    answer = json.loads(finish[len("FINISH("):-1])
    variants: dict[str, list[str]] = {}
    if answer:  # families that only write take any answer
        variants["no answer"] = writes + ["FINISH([])"]
    if answer and isinstance(answer[0], (int, float)):
        variants["answer with units"] = writes + [f'FINISH(["{answer[0]} mg/dL"])']
        variants["wrong value"] = writes + [f"FINISH({json.dumps([answer[0] + 1] + answer[1:])})"]
    if writes:
        variants["missing order"] = [finish]
        body = json.loads(writes[0].split("\n", 1)[1])
        body["subject"] = {"reference": "Patient/S0000000"}
        variants["wrong patient"] = [f"POST {writes[0].split()[1]}\n{json.dumps(body)}"] + writes[1:] + [finish]
        variants["duplicate order"] = [writes[0]] + writes + [finish]
        dose_body = json.loads(writes[0].split("\n", 1)[1])
        if "dosageInstruction" in dose_body:
            dose_body["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] += 1
            variants["wrong dose"] = [f"POST {writes[0].split()[1]}\n{json.dumps(dose_body)}"] + writes[1:] + [finish]
    elif task.family not in {"anticoag_reconcile"}:
        variants["order when none was needed"] = [
            'POST ServiceRequest\n{"resourceType": "ServiceRequest", "status": "active", "intent": "order", '
            f'"subject": {{"reference": "Patient/{task.solution.get("mrn", "x")}"}}, "code": {{"text": "x"}}}}',
            finish,
        ]
    return variants


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_typical_wrong_solutions_fail(env: FhirEnvironment, manifest: Manifest, family: str) -> None:
    tasks = [task for task in all_tasks(manifest) if task.family == family]

    async def run() -> list[str]:
        passed_wrongly = []
        checked = 0
        for task in tasks:
            for name, actions in wrong_variants(task).items():
                grade = await play(env, task, actions)
                checked += 1
                if grade.passed:
                    passed_wrongly.append(f"{task.id}: {name}")
        await env.aclose()
        assert checked >= len(tasks)
        return passed_wrongly

    assert asyncio.run(run()) == []


def test_invalid_fhir_is_refused_by_the_server_and_fails_the_task(env: FhirEnvironment, manifest: Manifest) -> None:
    task = next(t for t in all_tasks(manifest) if t.family == "record_bp")

    async def run():
        session = await env.open(task)
        step = await session.step('POST Observation\n{"resourceType": "Observation", "status": "done-ish"}')
        stored = await session.writes()  # what the server holds for this episode, read back from it
        grade = await session.grade(None)
        await session.close()
        await env.aclose()
        return step, stored, grade

    step, stored, grade = asyncio.run(run())
    assert step.observation.startswith("HTTP 400") and "Invalid Observation: code: Field required" in step.observation
    assert stored == []  # the refusal is all that is left: nothing was written
    assert not grade.passed and grade.tags == ["missing-order"]


def bp_observation(task: Task) -> dict:
    """The blood-pressure Observation a record_bp task asks for."""
    return {"resourceType": "Observation", "status": "final",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "vital-signs"}]}],
            "code": {"text": "BP"}, "subject": {"reference": f"Patient/{task.solution['mrn']}"},
            "effectiveDateTime": "2024-03-15T09:30:00+00:00", "valueString": task.solution["value"]}


def test_a_write_followed_by_finish_in_one_reply_is_sent_and_the_finish_asked_for_again(
        env: FhirEnvironment, manifest: Manifest) -> None:
    """The embedded model writes a correct body and FINISH([]) in one reply: the write counts, once."""
    task = next(t for t in all_tasks(manifest) if t.family == "record_bp")
    body = bp_observation(task)

    async def run():
        session = await env.open(task)
        step = await session.step(f"POST Observation\n{json.dumps(body)}\nFINISH([])")
        grade = await session.grade([])
        await session.close()
        await env.aclose()
        return step, grade

    step, grade = asyncio.run(run())
    assert step.observation.startswith("HTTP 201") and not step.done and not step.invalid
    assert "do not send it again" in step.observation and "body was not read (FINISH([]))" in step.observation
    assert grade.passed, grade.reason


def test_the_agent_reads_a_bundle_without_the_self_link_that_echoes_its_request(
        env: FhirEnvironment, manifest: Manifest, get) -> None:
    task = next(t for t in all_tasks(manifest) if t.family == "latest_glucose")
    mrn = get("Observation?code=GLU&_count=1").json()["entry"][0]["resource"]["subject"]["reference"].split("/")[1]
    query = f"Observation?patient={mrn}&code=GLU&_sort=-date&_count=1"

    async def run():
        session = await env.open(task)
        try:
            return await session.step(f"GET {query}"), await session.step("GET Observation?patient=nobody")
        finally:
            await session.close()
            await env.aclose()

    (found, empty) = asyncio.run(run())
    served = get(query).json()
    assert [link["relation"] for link in served["link"]] == ["self", "next"]  # the server sends both, as HAPI does
    read = json.loads(found.observation.split("\n", 1)[1])
    assert [link["relation"] for link in read["link"]] == ["next"]
    assert read["total"] == served["total"] > 1
    assert [e["resource"] for e in read["entry"]] == [e["resource"] for e in served["entry"]]  # every field kept
    assert found.observation.startswith("HTTP 200\n{") and '": ' not in found.observation  # compact JSON
    assert json.loads(empty.observation.split("\n", 1)[1]) == {"resourceType": "Bundle", "type": "searchset",
                                                                 "total": 0}


def test_mend_skill_writes_the_correction_check_skill_offers(env: FhirEnvironment) -> None:
    text = ("1. GET Observation?patient=<MRN>&code=<CODE>&sort=-date&count=1\n"
            "2. Then GET Observation?patient=<MRN>&date=ge<SINCE_24H>+00:00.\n3. FINISH([-1]).")
    mended = env.hints().mend_skill(text)
    assert mended == ("1. GET Observation?patient=<MRN>&code=<CODE>&_sort=-date&_count=1\n"
                      "2. Then GET Observation?patient=<MRN>&date=ge<SINCE_24H>%2B00:00.\n3. FINISH([-1]).")
    assert env.hints().check_skill(mended) is None
    valid = "GET Observation?patient=<MRN>&code=<CODE>&_sort=-date&_count=1"
    assert env.hints().mend_skill(valid) == valid
    assert env.hints().mend_skill("GET Observation?bogus=1") == "GET Observation?bogus=1"  # nothing close: left to the proposer


def test_mend_skill_drops_element_names_the_resource_does_not_have(env: FhirEnvironment) -> None:
    """A draft of the ten-type run asked for ``unit`` and ``system`` among Observation's elements: the server
    knows its own elements, so the mend keeps the rest, or the whole resource when no name is one."""
    text = "GET Observation?patient=<MRN>&code=<CODE>&_count=1&_elements=valueQuantity,unit,system,effectiveDateTime"
    assert "has no element 'unit'" in env.hints().check_skill(text)
    mended = env.hints().mend_skill(text)
    assert mended == "GET Observation?patient=<MRN>&code=<CODE>&_count=1&_elements=valueQuantity,effectiveDateTime"
    assert env.hints().check_skill(mended) is None
    assert env.hints().mend_skill("GET Observation?patient=<MRN>&_elements=unit,system.") == "GET Observation?patient=<MRN>."


def test_check_skill_reads_a_second_question_mark_as_the_server_does_and_mends_it(env: FhirEnvironment) -> None:
    """``identifier=<MRN>?_sort=-date`` is one parameter whose value swallows the rest: the server answers 200
    with nobody (seen in a referral draft of the ten-type run). The linter says so; '&' is the mend."""
    text = "1. GET Patient?identifier=<MRN>?_count=1\n2. FINISH([])"
    problem = env.hints().check_skill(text)
    assert problem and "a URL has one '?'" in problem and problem.endswith("Write it as: Patient?identifier=<MRN>&_count=1")
    assert env.hints().mend_skill(text) == "1. GET Patient?identifier=<MRN>&_count=1\n2. FINISH([])"
    assert env.hints().check_skill("Is it in Observation?patient=<MRN>&code=<CODE>?") is None  # a question's own mark


@pytest.mark.parametrize(("line", "said", "mended"), [
    ("POST http://fhir.local/fhir/ReferralRequest\n{}", "Unknown resource type 'ReferralRequest'", None),
    ("POST http://fhir.local/fhir/Patient/<MRN>/ReferralRequest\n{}", "Unknown resource type 'ReferralRequest'", None),
    ("POST http://fhir.local/fhir/Patient/<MRN>/ServiceRequest\n{}", "Method POST is not allowed on that path",
     "POST http://fhir.local/fhir/ServiceRequest\n{}"),
    ('POST ServiceRequest {"resourceType": "ServiceRequest"}', "POST needs one URL on its line, then the JSON body",
     'POST ServiceRequest\n{"resourceType": "ServiceRequest"}'),
])
def test_check_skill_says_what_the_server_would_answer_a_write_line(env: FhirEnvironment, get, line: str, said: str,
                                                                    mended: str | None) -> None:
    """A write line the executor would copy into a 404, a 405 or an unparsable action is named in the words of
    the server (or the action parser); what the server determines by itself (the type of a compartment path,
    the body under its line) is mended, an unknown type is not."""
    problem = env.hints().check_skill(f"1. {line}\n2. FINISH([])")
    assert problem and said in problem
    assert env.hints().mend_skill(line) == (mended or line)
    if "Unknown resource type" in said:
        served = get("ReferralRequest", method="POST", body={"resourceType": "ReferralRequest"})
        assert served.status_code == 404 and said in served.text
    assert env.hints().check_skill("Write the POST body with the reading, then FINISH([]).") is None  # prose, no write


def test_check_skill_finds_requests_the_server_would_reject(env: FhirEnvironment) -> None:
    assert "Unknown search parameter 'sort'" in env.hints().check_skill("GET Observation?patient=<MRN>&code=GLU&sort=-date")
    assert "encode it as %2B" in env.hints().check_skill("Observation?patient=<MRN>&date=ge2024-01-01T00:00:00+00:00")
    assert env.hints().check_skill("1. GET Observation?patient=<MRN>&code=<CODE>&_sort=-date&_count=1") is None
    assert env.hints().check_skill("Sort the results newest first.") is None


BP_BODY = ('{"resourceType": "Observation", "status": "final", "category": [{"coding": [{"system": '
           '"http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}], "code": '
           '{"text": "BP"}, "subject": {"reference": "Patient/<MRN>"}, "effectiveDateTime": "<NOW>+00:00", '
           '"valueString": "<READING>"}')


@pytest.mark.parametrize(("wrong", "field"), [
    (BP_BODY.replace('"category": [{', '"category": {').replace('}]}], "code"', '}]}, "code"'),
     "category: Input should be a valid list"),  # a string or object where a list belongs
    (BP_BODY.replace('"status"', '"state"'), "state: Extra inputs are not permitted"),  # a wrong field
    (BP_BODY.replace('"<NOW>+00:00"', '"now"'), "effectiveDateTime: Value error"),
])
def test_check_skill_refuses_a_write_whose_body_the_server_would_refuse_naming_the_field(
        env: FhirEnvironment, get, wrong: str, field: str) -> None:
    assert env.hints().check_skill(f"1. POST Observation\n{BP_BODY}\n2. FINISH([])") is None
    assert env.hints().check_skill(f"1. POST Observation\n```json\n{BP_BODY}\n```") is None
    problem = env.hints().check_skill(f"1. POST Observation\n{wrong}\n2. FINISH([])")
    assert problem and problem.startswith("POST Observation: the server would answer 400") and field in problem
    served = get("Observation", method="POST", body=json.loads(
        wrong.replace("<MRN>", "S0000000").replace("<NOW>", "2024-03-15T09:30:00").replace("<READING>", "1/2 mmHg")))
    assert served.status_code == 400 and field in served.text  # the linter speaks in the server's own words


def test_check_skill_lets_a_placeholder_stand_where_it_cannot_judge_the_value(env: FhirEnvironment) -> None:
    dose = ('POST MedicationRequest\n{"resourceType": "MedicationRequest", "status": "active", "intent": "order", '
            '"subject": {"reference": "Patient/<MRN>"}, "medicationCodeableConcept": {"text": "KCl"}, '
            '"dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": <DOSE>, "unit": "mEq"}}]}], '
            '"authoredOn": "<WHEN>"}')
    assert env.hints().check_skill(dose) is None
    assert "not valid JSON" in env.hints().check_skill("POST Observation\n{\"resourceType\": \"Observation\",}")


def test_check_skill_names_what_to_change_around_placeholders(env) -> None:
    assert env.hints().check_skill("GET Observation?patient=<MRN>&code=<CODE>&date=ge<SINCE_24H>%2B00:00&_sort=-date") is None
    unencoded = env.hints().check_skill("GET Observation?patient=<MRN>&date=ge<SINCE_24H>+00:00")
    assert unencoded and "%2B" in unencoded
    misspelt = env.hints().check_skill("GET Observation?patient=<MRN>&sort=-date&count=1")
    assert misspelt and "Did you mean '_sort'?" in misspelt


def test_check_skill_writes_the_corrected_request_when_the_server_can_tell(env) -> None:
    problem = env.hints().check_skill("1. GET Observation?patient=<MRN>&code=<CODE>&sort=-date&count=1\n2. FINISH([<v>])")
    assert problem.endswith("Write it as: Observation?patient=<MRN>&code=<CODE>&_sort=-date&_count=1")
    encoded = env.hints().check_skill("GET Observation?patient=<MRN>&date=ge<SINCE_24H>+00:00")
    assert encoded.endswith("Write it as: Observation?patient=<MRN>&date=ge<SINCE_24H>%2B00:00")
    assert "Write it as" not in env.hints().check_skill("GET Observation?patient=<MRN>&colour=red")


def test_check_skill_refuses_a_record_picked_by_a_literal_value(env) -> None:
    """A made-up identifier beside the task's name and birth date matches nobody, on every task; a copied MRN
    matches one task. The corrected request drops the made-up filter when placeholders still pick the record."""
    made_up = env.hints().check_skill("1. GET Patient?identifier=1234567890&family=<FAMILY>&given=<GIVEN>&birthdate=<BIRTHDATE>")
    assert made_up and "identifier=1234567890: picks out a record by a literal value" in made_up
    assert made_up.endswith("Write it as: Patient?family=<FAMILY>&given=<GIVEN>&birthdate=<BIRTHDATE>")
    copied = env.hints().check_skill("GET Observation?patient=S6173803&code=<CODE>&_sort=-date")
    assert copied and "patient=S6173803" in copied and "Write it as" not in copied
    assert env.hints().check_skill("GET Observation?patient=<MRN>&code=GLU&status=final&_sort=-date") is None


def test_check_skill_refuses_a_time_filter_that_matches_one_exact_second(env) -> None:
    """``date=<NOW>`` with no prefix is an eq search on one second: on the server it finds nothing, so a skill
    written that way answers "none" on every value task. A prefixed window, a bare day or a birth date pass."""
    exact = env.hints().check_skill("1. GET Observation?patient=<MRN>&code=<CODE>&date=<NOW>%2B00:00&_sort=-date&_count=1")
    assert exact and "date=<NOW>%2B00:00: a date and time with no prefix is an eq search" in exact
    assert "<SINCE_24H>" not in exact  # what the server rejects, never the window a family needs
    assert env.hints().check_skill("GET Observation?patient=<MRN>&date=2024-03-15T09:30:00Z") is not None
    assert env.hints().check_skill("GET Observation?patient=<MRN>&code=<CODE>&date=ge<SINCE_24H>%2B00:00") is None
    assert env.hints().check_skill("GET Observation?patient=<MRN>&date=2024-03-15") is None
    assert env.hints().check_skill("GET Patient?family=<FAMILY>&given=<GIVEN>&birthdate=<BIRTHDATE>") is None


def test_check_skill_names_a_second_problem_behind_the_first(env) -> None:
    both = env.hints().check_skill("GET Observation?patient=<MRN>&date=<NOW>+00:00")
    assert "encode it as %2B" in both
    assert "With that fixed, Observation?patient=<MRN>&date=<NOW>%2B00:00 still fails" in both
    assert "no prefix" in both


def test_check_skill_says_why_a_name_searched_as_two_words_matches_nobody_and_writes_no_query(env) -> None:
    """``name=<FAMILY>+<GIVEN>`` becomes "Pavel Kettering", which matches no single word of any name. Which
    parameters to search instead is the skill's to learn: the linter offers no rewritten request."""
    joined = env.hints().check_skill("1. GET Patient?name=<FAMILY>+<GIVEN>&birthdate=<BIRTHDATE>\n2. FINISH([<id>])")
    assert "name=<FAMILY>+<GIVEN>: this server matches each word of a name separately" in joined
    assert "Write it as" not in joined and "given=" not in joined
    assert env.hints().mend_skill("GET Patient?name=<FAMILY>+<GIVEN>") == "GET Patient?name=<FAMILY>+<GIVEN>"
    assert env.hints().check_skill("GET Patient?name=<FAMILY>&birthdate=<BIRTHDATE>") is None


REJECTED = [
    "Observation?patient=<MRN>&code=<CODE>&date=<NOW>%2B00:00&_count=1",
    "Observation?patient=<MRN>&date=<NOW>+00:00",
    "Observation?patient=<MRN>&count=1&sort=-date",
    "Observation?patient=S6173803&code=<CODE>",
    "Patient?name=<GIVEN>+<FAMILY>&birthdate=<BIRTHDATE>",
    "Patient?identifier=1234567890&family=<FAMILY>",
    "Observation?subject=<MRN>&valueQuantity=<X>",
    "MedicationRequest?patient=<MRN>&date=ge2024",
]


@pytest.mark.parametrize("request_", REJECTED)
def test_a_rejection_names_no_placeholder_the_skill_did_not_write(env, request_: str) -> None:
    """The linter says what the server rejects and why, and corrects what the server determines itself; it
    never brings in a task's value (a window's <SINCE_24H>, a name's <GIVEN>) that the skill did not use."""
    rtype, query = request_.split("?", 1)
    message = rejection(rtype, query)
    assert message is not None
    written = set(re.findall(r"<\w+>", query))
    assert set(re.findall(r"<\w+>", message)) <= written | {"<PLACEHOLDER>"}
    assert set(re.findall(r"<\w+>", env.hints().check_skill(f"GET {request_}"))) <= written | {"<PLACEHOLDER>"}


def test_a_skill_that_gives_another_familys_no_result_answer_is_named(env) -> None:
    """A lookup skill answering -1 (copied from a lab example) breaks every "Patient not found" item; the core
    tells it from the environment's trivial answers, whatever the domain."""
    from grasp.improve.lint import foreign_none_answer, no_result_answers

    everyone = env.tasks("dev")
    lookups = [task for task in everyone if task.family == "patient_lookup"]
    labs = [task for task in everyone if task.family == "latest_mg_24h"]
    own, others = no_result_answers(lookups, everyone)
    assert own == ["Patient not found"] and set(others) == {"Patient not found", -1}
    wrong = foreign_none_answer("1. GET Patient?given=<GIVEN>&family=<FAMILY>\n2. If total is 0, FINISH([-1]).",
                                own, others)
    assert wrong and 'answers -1 when nothing is found' in wrong and '"Patient not found"' in wrong
    assert foreign_none_answer("2. If total is 0, FINISH([\"Patient not found\"]).", own, others) is None
    lab_own, _ = no_result_answers(labs, everyone)
    assert foreign_none_answer("2. If total is 0, FINISH([-1]).", lab_own, others) is None
    assert foreign_none_answer("3. FINISH([<VALUE>]) with <VALUE> = entry[0].value", own, others) is None
