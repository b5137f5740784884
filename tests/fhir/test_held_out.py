"""The sealed test comes from a world nobody developed on: new patients, the same families."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from environments.fhir.environment import FhirEnvironment
from environments.fhir.world import generate
from grasp.config import RunConfig
from grasp.errors import ConfigError
from grasp.improve import improve
from grasp.models import ScriptedModel
from grasp.store import Database
from grasp.store.runs import RunStore
from probes.manifest import Manifest

from .conftest import PATIENTS, SEED

MRN = re.compile(r"\bS\d{7}\b")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRASP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def patients_of(tasks) -> set[str]:
    """Every patient a task names: its MRN, or the name and birth date it searches by."""
    named = set()
    for task in tasks:
        named.update(MRN.findall(task.instruction))
        if found := re.search(r"named (\S+ \S+), born (\S+)\?", task.instruction):
            named.add(found.group(1) + "/" + found.group(2))
    return named


def test_a_held_out_world_shares_no_patient_with_the_world_dev_and_val_come_from(env: FhirEnvironment,
                                                                                  cache: Path) -> None:
    held = env.held_out(11)
    sealed = held.tasks("test")
    home = generate(SEED, PATIENTS)
    home_patients = {p["id"] for p in home.patients()}
    home_patients |= {f"{p['name'][0]['given'][0]} {p['name'][0]['family']}/{p['birthDate']}" for p in home.patients()}
    assert sealed and {task.family for task in sealed} == {task.family for task in env.tasks("test")}
    assert not patients_of(sealed) & home_patients
    assert not patients_of(sealed) & patients_of(env.tasks("dev") + env.tasks("val"))
    assert not {task.id for task in sealed} & {task.id for split in ("dev", "val", "test") for task in env.tasks(split)}
    assert "seed 11" in held.world() and f"held out from world {SEED}" in held.world()
    # Its episodes run against its own world: a held-out patient is found there and not at home.
    mrn = next(iter(MRN.findall(" ".join(task.instruction for task in sealed))))

    async def total(environment: FhirEnvironment) -> int:
        task = next(task for task in environment.tasks("test"))
        session = await environment.open(task)
        step = await session.step(f"GET {environment.base_url}Patient?identifier={mrn}")
        await session.close()
        await environment.aclose()
        return json.loads(step.observation.split("\n", 1)[1])["total"]

    assert asyncio.run(total(held)) == 1
    assert asyncio.run(total(env)) == 0


def test_the_same_held_out_seed_gives_the_same_items_and_another_seed_other_ones(env: FhirEnvironment,
                                                                                 cache: Path) -> None:
    first, again, other = env.held_out(11).tasks("test"), env.held_out(11).tasks("test"), env.held_out(12).tasks("test")
    assert [t.model_dump() for t in first] == [t.model_dump() for t in again]
    assert patients_of(first) != patients_of(other)


def test_a_sealed_world_that_is_the_dev_world_or_cannot_be_built_is_refused_in_one_line(env: FhirEnvironment,
                                                                                       cache: Path) -> None:
    with pytest.raises(ConfigError, match=rf"sealed_world {SEED} is the world dev and val are drawn from"):
        env.held_out(SEED)
    with pytest.raises(ConfigError, match="from 0 to"):
        env.held_out(-3)
    tiny = FhirEnvironment(manifest=Manifest(environment="fhir", world={"seed": SEED, "patients": 0},
                                             splits={"dev": [], "test": []}))
    with pytest.raises(ConfigError, match="cannot be built") as refused:
        tiny.held_out(11)
    assert "\n" not in str(refused.value)


def finish_none(messages: list[dict[str, str]]) -> str:
    """A scripted executor (unit tests only) that answers every task's no-result answer at once."""
    return 'FINISH(["Patient not found"])' if "MRN of the patient" in messages[1]["content"] else "FINISH([-1])"


def run_config(**advanced: object) -> RunConfig:
    return RunConfig(environment="fhir", seed=0, families=["latest_glucose", "patient_lookup"],
                     limits={"dev": 6, "val": 0, "test": 4}, max_rounds=2, probe_size=2,
                     advanced={"loop": {"sources": ["proposer"], "trial": False}, "gate": {"probe_pool": 0},
                               **advanced})


def test_a_run_reads_its_sealed_test_from_the_held_out_world_and_names_it(env: FhirEnvironment, cache: Path,
                                                                         tmp_path: Path) -> None:
    result = asyncio.run(improve(env, ScriptedModel(finish_none, name="scripted-none"), run_config(sealed_world=21),
                                 db=tmp_path / "g.db",
                                 proposer=ScriptedModel(lambda m: "not json", name="scripted-proposer")))
    dev = [task for task in env.tasks("dev") if task.id in set(result.state.drawn["dev"])]
    assert all(task_id.startswith("w21-") for task_id in result.state.drawn["test"])
    sealed = env.held_out(21).tasks("test")
    drawn = [task for task in sealed if task.id in set(result.state.drawn["test"])]
    assert len(drawn) == 4 and not patients_of(drawn) & patients_of(dev)
    assert result.state.test["held_out"] is True
    assert "seed 21" in result.state.test["world"] and f"seed {SEED}" in result.state.test["development_world"]
    assert result.state.test["trivial"]["total"] == 4  # the trivial answer is graded on the same held-out items


def test_a_run_whose_sealed_world_is_its_dev_world_stores_nothing(env: FhirEnvironment, cache: Path,
                                                                  tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    with pytest.raises(ConfigError, match="dev and val are drawn from"):
        asyncio.run(improve(env, ScriptedModel(finish_none, name="scripted-none"), run_config(sealed_world=SEED), db=db))
    assert RunStore(Database(db)).list() == []
