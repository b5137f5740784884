"""Comparative proposals: failing episodes next to passing ones, turned into typed edits.

The proposer sees one failure group at a time (largest first): up to two
failing traces, a passing trace of the same family where one exists, and the
current library with each skill's evidence. It answers through a JSON schema;
every reply is validated, and an invalid one is returned as a refused
candidate with its reason instead of being dropped.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError

from ..edits import Edit, EditKind
from ..environment import Episode
from ..errors import ModelError
from ..models.base import ChatResult, Model, structured
from ..skills import Skill, normalize_name
from ..tasks import Task
from .traces import compress, within_budget

MAX_BODY = 900


class Proposal(BaseModel):
    """The fill-in structure the proposer answers with."""

    action: Literal["ADD", "MODIFY", "REMOVE", "REPLACE"]
    name: str = Field(description="skill name: lowercase words joined by hyphens")
    target: str | None = Field(default=None, description="for REMOVE/REPLACE: the existing skill to remove")
    description: str = Field(default="", description="when to use the skill, one sentence")
    body: str = Field(default="", description="3-6 short imperative steps; use <MRN>, <CODE>, <value> placeholders")


class Candidate(BaseModel):
    edit: Edit | None
    refusal: str | None = None
    group: str = ""


def build_prompt(
    label: str,
    failing: list[Episode],
    passing: list[Episode],
    library: dict[str, Skill],
    evidence: dict[str, str],
    capacity: int,
    notes: str,
    *,
    budget_chars: int,
) -> tuple[list[dict[str, str]], int]:
    traces = [f"FAILING example:\n{compress(e)}" for e in failing[:2]]
    traces += [f"PASSING example (same kind of task):\n{compress(e)}" for e in passing[:1]]
    kept, cut = within_budget(traces, budget_chars)
    skills = "\n".join(f"- {s.name}: {s.description} [{evidence.get(s.name, 'no evidence yet')}]"
                       for s in library.values()) or "(empty)"
    at_capacity = len(library) >= capacity
    system = ("You improve an agent by writing short skills: Markdown how-tos it reads before each task. "
              "Compare the failing and passing examples, find what the agent did wrong, and write ONE edit. "
              "Never copy patient ids, dates or values from the examples: use placeholders like <MRN>, <CODE>, "
              "<value>.")
    user = (f"Protocol: {notes}\n\nFailure mechanism: {label}\n\n" + "\n\n".join(kept)
            + f"\n\nCurrent skills ({len(library)}/{capacity}):\n{skills}\n\n"
            + ("The library is full: use MODIFY, REMOVE or REPLACE." if at_capacity else
               "Use ADD for a new skill, MODIFY to rewrite an existing one (same name), REMOVE or REPLACE."))
    return [{"role": "system", "content": system}, {"role": "user", "content": user}], cut


async def propose(
    model: Model,
    prompt: list[dict[str, str]],
    count: int,
    *,
    temperature: float,
    seed: int,
) -> tuple[list[Proposal | str], list[ChatResult]]:
    """``count`` proposals (or the reason each one failed), drawn at ``temperature``."""
    proposals: list[Proposal | str] = []
    results: list[ChatResult] = []
    for index in range(count):
        try:
            proposal, calls = await structured(model, prompt, Proposal, max_tokens=400, temperature=temperature,
                                               seed=seed + index)
            results.extend(calls)
            proposals.append(proposal)
        except ModelError as error:
            proposals.append(f"unusable reply: {error}")
    return proposals, results


def to_candidate(
    proposal: Proposal | str,
    *,
    library: dict[str, Skill],
    capacity: int,
    family: str,
    forbidden: set[str],
    group: str,
) -> Candidate:
    """Validate one proposal into an Edit, or a refusal that says why."""
    if isinstance(proposal, str):
        return Candidate(edit=None, refusal=proposal, group=group)
    name = normalize_name(proposal.name)
    target = normalize_name(proposal.target) if proposal.target else None
    kind = EditKind(proposal.action)
    at_capacity = len(library) >= capacity
    if kind is EditKind.ADD and at_capacity:
        return Candidate(edit=None, refusal=f"ADD at capacity ({capacity})", group=group)
    if kind is EditKind.ADD and name in library:
        kind = EditKind.MODIFY  # the model meant a rewrite of an existing skill
    if kind in (EditKind.MODIFY,) and name not in library:
        return Candidate(edit=None, refusal=f"MODIFY of unknown skill {name!r}", group=group)
    if kind in (EditKind.REMOVE, EditKind.REPLACE):
        target = target or (name if kind is EditKind.REMOVE else None)
        if target not in library:
            return Candidate(edit=None, refusal=f"{kind.value} of unknown skill {target!r}", group=group)
    if kind is EditKind.REMOVE:
        return Candidate(edit=Edit(kind=kind, target=target), group=group)
    text = f"{proposal.description}\n{proposal.body}"
    leaked = sorted(value for value in forbidden if value in text)
    if leaked:
        return Candidate(edit=None, refusal=f"leaks task values {leaked[:3]} (use placeholders)", group=group)
    if re.search(r"\bS\d{7}\b", text):
        return Candidate(edit=None, refusal="leaks a patient MRN (use <MRN>)", group=group)
    for other in library.values():
        if other.name != (target or name) and other.description.strip().lower() == proposal.description.strip().lower():
            return Candidate(edit=None, refusal=f"duplicate trigger of skill {other.name!r}", group=group)
    try:
        skill = Skill(name=name, description=proposal.description, body=proposal.body[:MAX_BODY], tags=[family])
        if kind is EditKind.REPLACE:
            return Candidate(edit=Edit(kind=kind, target=target, skill=skill), group=group)
        return Candidate(edit=Edit(kind=kind, skill=skill), group=group)
    except (PydanticValidationError, ValueError) as error:
        return Candidate(edit=None, refusal=f"invalid skill: {str(error).splitlines()[-1][:160]}", group=group)


def forbidden_values(tasks: list[Task]) -> set[str]:
    """Concrete values from the contrasted tasks that a skill must not contain."""
    values: set[str] = set()
    for task in tasks:
        for value in task.solution.values():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) >= 1.05:
                text = f"{value:g}"
                if len(text) >= 3:
                    values.add(text)
            elif isinstance(value, str) and len(value) >= 6 and value != "Patient not found":
                values.add(value)
    return values


def revision_prompt(skill: Skill, broken: list[Episode], fixed: list[Episode]) -> list[dict[str, str]]:
    """Ask for a narrower version of ``skill`` that keeps its fixes and stops breaking ``broken``."""
    parts = [f"BROKEN by the skill (passed before it):\n{compress(e, limit=700)}" for e in broken[:2]]
    parts += [f"FIXED by the skill:\n{compress(e, limit=700)}" for e in fixed[:1]]
    user = (f"This skill was accepted on probation but broke some tasks that passed without it.\n\n"
            f"Skill {skill.name}: {skill.description}\n{skill.body}\n\n" + "\n\n".join(parts)
            + "\n\nRewrite it more narrowly (same name, action MODIFY) so it keeps the fixes and stops the breakage. "
              "Use placeholders like <MRN> and <value>, never real values.")
    return [{"role": "system", "content": "You revise skills for an agent: short Markdown how-tos."},
            {"role": "user", "content": user}]
