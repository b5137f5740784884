"""FHIR's yardstick hooks: strata from the no-result answer, the trivial answer graded by the server, the reference library."""

from __future__ import annotations

import asyncio

from environments.fhir.environment import FhirEnvironment
from grasp.yardsticks import trivial_episodes

LOOKUPS = {"patient_lookup", "latest_mg_24h", "latest_glucose", "avg_glucose_24h"}


def test_the_trivial_answer_passes_exactly_the_none_stratum(env: FhirEnvironment) -> None:
    tasks = [t for split in ("dev", "val", "test") for t in env.tasks(split)]
    episodes = asyncio.run(trivial_episodes(env, tasks))  # graded through a real session of the server
    strata = {t.id: env.stratum(t) for t in tasks}
    assert {"none", "value"} <= set(strata.values())
    for task, episode in zip(tasks, episodes, strict=True):
        assert episode.passed == (strata[task.id] == "none"), (task.id, episode.reason)
        if task.family in LOOKUPS:  # a lookup is "none" exactly when its expected answer is the no-result one
            assert (strata[task.id] == "none") == (task.solution["expected"] in (-1, "Patient not found"))
    assert any(strata[t.id] == "none" for t in tasks if t.family not in LOOKUPS)  # an order that is not due


def test_the_reference_library_is_valid_generic_and_covers_the_ten_task_types(env: FhirEnvironment) -> None:
    skills = env.reference_library()
    assert {"latest_glucose", "latest_mg_24h", "patient_lookup"} <= {tag for skill in skills for tag in skill.tags}
    assert len({tag for skill in skills for tag in skill.tags}) == 10 == len(skills)  # one skill per task type
    for skill in skills:
        assert env.hints().check_skill(f"{skill.description}\n{skill.body}") is None, skill.name  # every request is valid
        assert "<" in skill.body
        assert "GET Observation" not in skill.body or "_elements=" in skill.body, skill.name
        for task in env.tasks("test"):  # placeholders only: no value of any task
            assert not any(value in skill.body for value in env.forbidden_values(task)), (skill.name, task.id)
