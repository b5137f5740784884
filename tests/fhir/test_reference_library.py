"""The reference library followed literally: each skill's requests and bodies, with a task's values filled in
and its rules applied to what the server answered, pass every dev and val task of its family.

The follower below is scripted (it is not a model): it sends exactly the requests a skill writes, so a request
the server refuses, a body that is not valid FHIR R4, or a rule that gives the wrong answer fails here."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from statistics import mean
from typing import Any

from environments.fhir.environment import FhirEnvironment
from grasp.skills import Skill
from grasp.tasks import Task

REQUEST = re.compile(r"^(?:\d+\. )?(GET \S+)$", re.MULTILINE)
WRITE = re.compile(r"^(?:\d+\. )?(POST \w+)\n(\{.*\})$", re.MULTILINE)


def fill(text: str, values: dict[str, Any]) -> str:
    for name, value in values.items():
        text = text.replace(f"<{name}>", str(value))
    assert "<" not in text, text  # every placeholder the skill writes has a value
    return text


def values_of(task: Task) -> dict[str, Any]:
    values = {name: spellings[0] for name, spellings in task.spellings().items() if spellings}
    now = datetime.fromisoformat(values["NOW"])
    return {**values, "NOTE": task.solution.get("note", ""), "TOMORROW": (now + timedelta(days=1)).date().isoformat()}


def entries(observation: str) -> list[dict[str, Any]]:
    assert observation.startswith("HTTP 200\n"), observation
    return [entry["resource"] for entry in json.loads(observation.split("\n", 1)[1]).get("entry", [])]


def follow(skill: Skill, task: Task) -> list[str]:
    """The replies the skill prescribes, computed step by step from the server's answers."""
    values = values_of(task)
    reads = [fill(request, values) for request in REQUEST.findall(skill.body)]
    writes = [(head, body) for head, body in WRITE.findall(skill.body)]
    family = task.family

    def write(index: int, **more: Any) -> str:
        head, body = writes[index]
        return f"{head}\n{fill(body, {**values, **more})}"

    def script(found: list[dict[str, Any]]) -> list[str]:
        value = found[0]["valueQuantity"]["value"] if found and "valueQuantity" in found[0] else None
        if family == "record_bp" or family == "ortho_referral":
            return [write(0), "FINISH([])"]
        if family == "patient_age":
            birth = datetime.fromisoformat(found[0]["birthDate"])
            now = datetime.fromisoformat(values["NOW"])
            return [f"FINISH([{now.year - birth.year - ((now.month, now.day) < (birth.month, birth.day))}])"]
        if family == "avg_glucose_24h":
            return [f"FINISH([{mean(r['valueQuantity']['value'] for r in found) if found else -1}])"]
        if family == "mg_replacement":
            if value is None or value >= 1.9:
                return ["FINISH([])"]
            return [write(0, DOSE=4 if value < 1.0 else 2 if value < 1.5 else 1), "FINISH([])"]
        if family == "k_replacement":
            if value >= 3.5:
                return ["FINISH([])"]
            return [write(0, DOSE=round((3.5 - value) * 100)), write(1), "FINISH([])"]
        if family == "a1c_check":
            stale = not found or datetime.fromisoformat(found[0]["effectiveDateTime"]) < (
                datetime.fromisoformat(values["NOW"] + "+00:00") - timedelta(days=365))
            answer = "FINISH([-1])" if not found else f'FINISH([{value}, "{found[0]["effectiveDateTime"]}"])'
            return [write(0), answer] if stale else [answer]
        raise AssertionError(f"no follower for {family}")

    return [*reads, script] if reads else script([])  # type: ignore[list-item]


def test_each_new_reference_skill_followed_literally_passes_its_dev_and_val_tasks(
        env: FhirEnvironment) -> None:
    skills = {tag: skill for skill in env.reference_library() for tag in skill.tags}
    families = ["patient_age", "record_bp", "avg_glucose_24h", "ortho_referral", "mg_replacement", "k_replacement",
                "a1c_check"]
    tasks = [task for split in ("dev", "val") for task in env.tasks(split) if task.family in families]
    assert {task.family for task in tasks} == set(families)

    async def run(task: Task) -> tuple[bool, str]:
        session = await env.open(task)
        try:
            planned, found, answer = follow(skills[task.family], task), [], None
            while planned:
                step_text = planned.pop(0)
                if callable(step_text):
                    planned = step_text(found) + planned
                    continue
                step = await session.step(step_text)
                assert not (step.invalid or step.failed), (task.id, step_text, step.observation)
                if step.done:
                    answer = step.answer
                    break
                if step_text.startswith("GET"):
                    body = json.loads(step.observation.split("\n", 1)[1])
                    found = entries(step.observation) if body.get("resourceType") == "Bundle" else [body]
            grade = await session.grade(answer)
            return grade.passed, grade.reason
        finally:
            await session.close()

    async def run_all() -> list[str]:
        failed = [f"{task.id}: {reason}" for task in tasks for passed, reason in [await run(task)] if not passed]
        await env.aclose()
        return failed

    assert asyncio.run(run_all()) == []

