"""Evaluation end to end on the FHIR environment, with a scripted model that plays reference solutions."""

from __future__ import annotations

import asyncio

from environments.fhir.environment import FhirEnvironment
from grasp.evaluate import evaluate
from grasp.skills import Skill
from grasp.store import Database
from grasp.store.runs import RunStore
from probes.manifest import Manifest

from ..helpers import reference_model


def test_eval_scores_a_scripted_model_per_family_and_stores_the_run(env: FhirEnvironment, manifest: Manifest,
                                                                    tmp_path) -> None:
    tasks = [t for t in manifest.split("dev") if t.family != "anticoag_reconcile"]
    model = reference_model(tasks, broken=lambda task: task.family == "patient_age")
    runs = RunStore(Database(tmp_path / "g.db"))
    run_id = runs.create(kind="eval", environment="fhir", config={}, manifest_hash=manifest.hash)
    skill = Skill(name="age-rule", description="How to compute an age", body="Subtract.", tags=["patient_age"])

    async def run():
        try:
            return await evaluate(env, model, tasks, {"age-rule": skill}, runs=runs, run_id=run_id, concurrency=3)
        finally:
            await env.aclose()

    result = asyncio.run(run())
    scores = {s.family: (s.passed, s.total) for s in result.per_family()}
    assert scores.pop("patient_age") == (0, 4)
    assert all(passed == total for passed, total in scores.values()), scores
    assert runs.count_episodes(run_id) == len(tasks)
    stored = {e.task_id: e for e in runs.episodes(run_id)}
    age_task = next(t for t in tasks if t.family == "patient_age")
    assert stored[age_task.id].skills == ["age-rule"]  # the skill was injected where it applied
    assert stored[age_task.id].messages[0]["content"].endswith("Subtract.\n")
    other = next(t for t in tasks if t.family == "record_bp")
    assert stored[other.id].skills == [] and stored[other.id].passed


def test_a_stored_episode_is_not_run_again(env: FhirEnvironment, manifest: Manifest, tmp_path) -> None:
    tasks = manifest.split("val")[:3]
    runs = RunStore(Database(tmp_path / "g.db"))
    run_id = runs.create(kind="eval", environment="fhir", config={})
    first, second = reference_model(tasks), reference_model(tasks)

    async def run(model):
        return await evaluate(env, model, tasks, {}, runs=runs, run_id=run_id)

    asyncio.run(run(first))
    asyncio.run(run(second))
    asyncio.run(env.aclose())
    assert len(first.calls) > 0 and second.calls == []
