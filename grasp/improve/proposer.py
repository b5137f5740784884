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
    name: str = Field(max_length=48, description="short hyphenated skill name, like sort-newest-first")
    target: str | None = Field(default=None, description="for REMOVE/REPLACE: the existing skill to remove")
    description: str = Field(min_length=10, description="when to use the skill, one sentence")
    body: str = Field(min_length=20, description="3-6 short imperative steps; use <MRN>, <CODE>, <value> placeholders")


class Candidate(BaseModel):
    edit: Edit | None
    refusal: str | None = None
    group: str = ""


EXAMPLE = ('{"action": "ADD", "name": "count-active-orders", "description": "Use when asked how many active '
           'medication orders a patient has.", "body": "1. GET MedicationRequest?patient=<MRN>&status=active&_count=100'
           '\\n2. Count the entries of the Bundle.\\n3. FINISH([<count>])"}')
MRN = re.compile(r"\bS\d{7}\b")


def mask(text: str) -> str:
    """Hide patient ids from the proposer, so that skills come out with placeholders."""
    return MRN.sub("<MRN>", text)


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
    instruction: str = "",
) -> tuple[list[dict[str, str]], int]:
    """The proposer prompt: the task, failing traces next to a passing one, the library, a fill-in format."""
    traces = [f"FAILED attempt:\n{mask(compress(e))}" for e in failing[:2]]
    traces += [f"SUCCESSFUL attempt on a similar task:\n{mask(compress(e))}" for e in passing[:1]]
    kept, cut = within_budget(traces, budget_chars)
    skills = "\n".join(f"- {s.name}: {s.description} [{evidence.get(s.name, 'no evidence yet')}]"
                       for s in library.values()) or "(none yet)"
    at_capacity = len(library) >= capacity
    system = ("You are an expert in FHIR REST APIs who coaches an agent. You write a skill: a short numbered "
              "checklist the agent will read before similar tasks, so that it avoids the mistake it made.")
    user = (f"API: {notes}\n\nThe task was: {mask(instruction)}\n\n" + "\n\n".join(kept)
            + f"\n\nThe mistake is labelled: {label}.\n\nSkills the agent has now ({len(library)}/{capacity}):\n{skills}\n\n"
            + ("The library is full: use MODIFY (same name, better body), REMOVE or REPLACE.\n" if at_capacity else
               "Use ADD for a new skill, or MODIFY to rewrite an existing one under the same name.\n")
            + "Write the skill as one JSON object. name: a short hyphenated name of the fix, like sort-newest-first. "
              "description: 'Use when ...' naming the kind of task. body: 3-5 numbered steps with the exact request "
              "pattern to send and how to read the answer from the result, using placeholders like <MRN>, <CODE> "
              "and <value>, never real ids or values. Example of the format, for a different task:\n" + EXAMPLE)
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
    except PydanticValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "skill"
        return Candidate(edit=None, refusal=f"invalid skill: {where}: {first['msg'][:160]}", group=group)


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
