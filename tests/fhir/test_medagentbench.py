"""MedAgentBench task files: loading, and grading with its semantics against a live FHIR server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from environments.fhir.families import WorldIndex
from environments.fhir.medagentbench import grade_medagentbench, load_medagentbench, reference_answer
from environments.fhir.variables import with_variables
from environments.fhir.server import create_app
from environments.fhir.storage import WorldStore
from grasp.errors import ValidationError
from grasp.tasks import Task

from ..helpers import serve


def test_loading_and_grading_against_a_served_world(tmp_path: Path, world_store: WorldStore,
                                                    world_index: WorldIndex) -> None:
    mrn = next(m for m in world_index.mrns() if world_index.latest(m, "GLU"))
    latest = world_index.latest(mrn, "GLU")
    records = [
        {"id": "task1_1", "instruction": "MRN of X?", "context": "", "sol": [mrn]},
        {"id": "task7_1", "instruction": f"Latest glucose of {mrn}?",
         "context": "It's 2024-03-15T09:30:00+00:00 now. The code for glucose is GLU.", "eval_MRN": mrn},
        {"id": "task8_1", "instruction": "Refer", "context": "", "eval_MRN": mrn},
    ]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps(records))
    lookup, glucose, referral = load_medagentbench(path)
    assert (lookup.family, glucose.family) == ("mab_task1", "mab_task7")
    assert grade_medagentbench(lookup, [mrn], [], None).passed
    assert not grade_medagentbench(lookup, ["S0000000"], [], None).passed

    with serve(create_app(world_store)) as base:
        async def reference():
            async with httpx.AsyncClient(base_url=f"{base}/fhir/") as client:
                return await reference_answer(client, glucose)

        expected = asyncio.run(reference())
    assert expected == [latest.value]
    assert grade_medagentbench(glucose, [latest.value], [], expected).passed
    assert grade_medagentbench(glucose, [f"{latest.value} mg/dL"], [], expected).tags == ["answer-with-units"]
    post = {"resourceType": "ServiceRequest", "subject": {"reference": f"Patient/{mrn}"}}
    assert grade_medagentbench(referral, None, [post], None).passed
    assert not grade_medagentbench(referral, None, [], None).passed


def test_bad_task_files_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "task1_1"}]')
    with pytest.raises(ValidationError, match="record 0 needs at least 'id' and 'instruction'"):
        load_medagentbench(bad)
    bad.write_text("{nope")
    with pytest.raises(ValidationError, match="not a readable JSON task file"):
        load_medagentbench(bad)


def test_the_environment_sends_gets_and_only_records_posts(tmp_path: Path, world_store: WorldStore,
                                                           world_index: WorldIndex) -> None:
    from environments.fhir.medagentbench import MedAgentBenchEnvironment

    mrn = world_index.mrns()[0]
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([{"id": "task8_1", "instruction": "Refer", "context": "", "eval_MRN": mrn}]))
    with serve(create_app(world_store)) as base:
        env = MedAgentBenchEnvironment(path, f"{base}/fhir/")

        async def episode():
            (task,) = env.tasks("all")
            session = await env.open(task)
            looked = await session.step(f"GET Patient/{mrn}")
            body = json.dumps({"resourceType": "ServiceRequest", "subject": {"reference": f"Patient/{mrn}"}})
            posted = await session.step(f"POST ServiceRequest\n{body}")
            grade = await session.grade(None)
            await env.aclose()
            return looked, posted, grade

        looked, posted, grade = asyncio.run(episode())
    assert looked.observation.startswith("HTTP 200")
    assert posted.observation.startswith("POST request accepted") and grade.passed
    assert world_store.writes("anonymous") == []  # nothing reached the server


def test_order_kinds_are_graded_against_references_computed_from_the_server(
        tmp_path: Path, world_store: WorldStore, world_index: WorldIndex) -> None:
    from environments.fhir.medagentbench import MedAgentBenchEnvironment
    from environments.fhir.reference import medication, service

    low = next(m for m in world_index.mrns() if world_index.latest(m, "K") and world_index.latest(m, "K").value < 3.5)
    level = world_index.latest(low, "K").value
    dose = round((3.5 - level) / 0.1) * 10
    context = "It's 2024-03-15T09:30:00+00:00 now. The code for potassium is K."
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps([{"id": "task9_1", "instruction": "Potassium", "context": context, "eval_MRN": low}]))
    order = medication(low, "40032-917-01", dose, "mEq")
    lab = service(low, "http://loinc.org", "2823-3", occurrenceDateTime="2024-03-16T08:00:00+00:00")
    with serve(create_app(world_store)) as base:
        env = MedAgentBenchEnvironment(path, f"{base}/fhir/")

        async def grade(posts: list[dict]):
            session = await env.open(env.tasks("all")[0])
            for post in posts:
                await session.step(f"POST {post['resourceType']}\n{json.dumps(post)}")
            return await session.grade([])

        async def both():
            bad_dose = {**order, "dosageInstruction": [{"doseAndRate": [
                {"doseQuantity": {"value": dose + 10, "unit": "mEq"}}]}]}
            try:
                return await grade([order, lab]), await grade([bad_dose, lab])
            finally:
                await env.aclose()

        right, wrong = asyncio.run(both())
    assert right.passed, right.reason
    assert not wrong.passed and wrong.tags == ["wrong-dose"]


def test_a_task_file_is_split_into_dev_val_and_test_the_same_way_every_time() -> None:
    from environments.fhir.medagentbench import seeded_splits
    from grasp.tasks import Task

    tasks = [Task(id=f"task{k}_{i}", family=f"mab_task{k}", instruction="x") for k in (1, 2) for i in range(10)]
    splits = seeded_splits(tasks)
    assert [len(splits[s]) for s in ("dev", "val", "test")] == [10, 4, 6]
    ids = [t.id for s in splits.values() for t in s]
    assert sorted(ids) == sorted(t.id for t in tasks)  # disjoint and complete
    assert seeded_splits(list(reversed(tasks))) == splits


WORDING = Path(__file__).parent / "data" / "medagentbench_wording.json"


def _wording() -> dict[str, Task]:
    return {task.id: with_variables(task) for task in load_medagentbench(WORDING)}


def test_medagentbench_wording_declares_the_names_codes_readings_and_the_tasks_own_clock() -> None:
    tasks = _wording()
    lookup = tasks["task1_1"].variables
    assert (lookup["GIVEN"], lookup["FAMILY"], lookup["BIRTHDATE"]) == ("Lena", "Okafor", "1948-05-17")
    assert "MRN" not in lookup
    for kind in ("task2", "task3", "task4", "task5", "task6", "task7", "task8", "task9", "task10"):
        variables = tasks[f"{kind}_1"].variables
        assert variables["MRN"] == tasks[f"{kind}_1"].solution["mrn"], kind
        assert variables["NOW"][0] == "2023-11-13T10:15:00", kind  # the task's clock, not the world's
    codes = {kind: tasks[f"{kind}_1"].variables.get("CODE") for kind in ("task3", "task4", "task6", "task7", "task9",
                                                                        "task10")}
    assert codes == {"task3": "BP", "task4": "MG", "task6": "GLU", "task7": "GLU", "task9": "K", "task10": "A1C"}
    assert tasks["task3_1"].variables["READING"] == "121/79 mmHg"
    for windowed in ("task4", "task5", "task6"):
        assert tasks[f"{windowed}_1"].variables["SINCE_24H"][0] == "2023-11-12T10:15:00", windowed
    assert "SINCE_24H" not in tasks["task7_1"].variables


def test_a_drafted_name_search_on_medagentbench_wording_keeps_its_filters() -> None:
    """The core drops a filter whose value no variable declares; declared names and codes survive it."""
    from grasp.improve.lint import without_unknown_parameters

    lookup, magnesium = _wording()["task1_1"], _wording()["task4_1"]
    search = "GET Patient?given=<GIVEN>&family=<FAMILY>&birthdate=<BIRTHDATE>"
    assert without_unknown_parameters(search, set(lookup.variables)) == search
    labs = "GET Observation?patient=<MRN>&code=<CODE>&date=ge<SINCE_24H>%2B00:00&_sort=-date"
    assert without_unknown_parameters(labs, set(magnesium.variables)) == labs


def test_medagentbench_kinds_get_their_none_answers_and_strata(tmp_path: Path) -> None:
    from environments.fhir.medagentbench import MedAgentBenchEnvironment

    env = MedAgentBenchEnvironment(WORDING, base_url="http://127.0.0.1:9/fhir/")
    tasks = {task.id: task for task in env.tasks("all")}
    assert env.trivial_answer(tasks["task1_1"]) == ["Patient not found"]
    assert env.trivial_answer(tasks["task4_1"]) == [-1] and env.trivial_answer(tasks["task10_1"]) == [-1]
    assert env.trivial_answer(tasks["task8_1"]) == []
    assert env.stratum(tasks["task1_1"]) == "value" and env.stratum(tasks["task1_2"]) == "none"
    assert env.stratum(tasks["task4_1"]) == "unlabelled"  # its answer is read from the server at grading time
