"""Comparative proposals: failing episodes next to passing ones, turned into typed edits.

The proposer sees one failure group at a time (largest first): up to two
failing traces, a passing trace of the same family where one exists, and the
current library with each skill's evidence. It answers with a SKILL.md draft
(grasp/improve/drafts.py); every reply is validated, and an invalid one is
returned as a refused candidate with its reason instead of being dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Literal

from pydantic import BaseModel, Field
from pydantic import ValidationError as PydanticValidationError

from ..edits import Edit, EditKind
from ..environment import Environment, Episode, Hints, ProposerBrief
from ..errors import ModelError, ModelUnavailable
from ..models.base import ChatResult, Model
from ..skills import Skill, normalize_name, with_meanings
from ..tasks import Task
from ..agent.selection import words
from .drafts import FORMAT, Proposal, draft
from .templates import prompt
from .traces import complaints, compress, within_budget

MAX_BODY = 900


class Candidate(BaseModel):
    edit: Edit | None
    refusal: str | None = None
    group: str = ""
    origin: str = "proposer"  # proposer | induced | refined | recovery | reflection
    trial: str | None = None  # what it fixed on its batch at trial, when it was tried
    refused_at: Literal["lint", "trial"] | None = None  # the refine loop's critic that refused it, if one did
    seen: list[str] = Field(default_factory=list)  # task ids whose traces produced it: never in its probe


def masker(environment: Environment, tasks: list[Task]) -> Callable[[str], str]:
    """Hide the contrasted tasks' declared values (as <NAME>) and the environment's identifiers."""
    abstract = abstractor(tasks)
    return lambda text: environment.mask_identifiers(abstract(text))


def abstractor(tasks: list[Task]) -> Callable[[str], str]:
    """Replace every spelling of every declared variable of ``tasks`` by ``<NAME>``, longest first,
    only where it stands alone: a code "MG" never eats into "MGMT", an id 123 never into 91234, but
    a date right after a search prefix (``ge2024-03-14``) is still found."""
    pairs = sorted({(spelling, name) for task in tasks for name, spellings in task.spellings().items()
                    for spelling in spellings}, key=lambda pair: (-len(pair[0]), pair))
    patterns = [(standalone(spelling), f"<{name}>") for spelling, name in pairs]

    def abstract(text: str) -> str:
        for pattern, placeholder in patterns:
            text = pattern.sub(placeholder, text)
        return text

    return abstract


def standalone(value: str) -> re.Pattern[str]:
    """``value`` where it stands alone: not run into the same kind of character on either side."""
    return re.compile(_edge(value[0], before=True) + re.escape(value) + _edge(value[-1], before=False))


def leaked_values(forbidden: Collection[str], text: str) -> list[str]:
    """The values of ``forbidden`` that ``text`` holds where they stand alone, sorted: the same notion of
    a value as the mask's (:func:`abstractor`), so a word that merely contains one is no leak. Seen on the
    ten-type run: the A1C task's code "A1C" is inside its own wording "HbA1C", and an HbA1C draft whose
    description named the lab was refused as leaking its code."""
    return sorted(value for value in forbidden if value and standalone(value).search(text))


def _edge(char: str, *, before: bool) -> str:
    """A lookaround that keeps a match from running on into the same kind of character."""
    kind = "0-9" if char.isdigit() else "A-Za-z0-9" if char.isalpha() else ""
    if not kind:
        return ""
    return f"(?<![{kind}])" if before else f"(?![{kind}])"


def placeholder_notes(hints: Hints, tasks: list[Task]) -> dict[str, str]:
    """The placeholders of ``tasks``' values, sorted, each with what it stands for (the environment's hints'
    ``variable_notes``, else "this task's <name>")."""
    notes = hints.variable_notes()
    names = sorted({name for task in tasks for name in task.variables})
    return {name: notes.get(name, f"this task's {name.lower()}") for name in names}


def placeholders_line(placeholders: dict[str, str]) -> str:
    return "Placeholders for the task's values: " + "; ".join(f"<{n}> = {note}" for n, note in placeholders.items()) + "."


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
    brief: ProposerBrief,
    mask: Callable[[str], str] = lambda text: text,
    placeholders: dict[str, str] | None = None,
    instruction: str = "",
    feedback: bool = True,
) -> tuple[list[dict[str, str]], int]:
    """The proposer prompt: the task, failing traces next to a passing one, the library, a fill-in format.

    Everything domain-specific (persona, the worked example, what to mask, what each placeholder means)
    comes from the environment. A placeholder's meaning matters: a name like <SINCE_24H> alone does not
    tell a small proposer that a window's start is there to be used, "24 hours before now" does."""
    traces = [f"FAILED attempt:\n{mask(compress(e, feedback=feedback))}" for e in failing[:2]]
    traces += [f"SUCCESSFUL attempt on a similar task:\n{mask(compress(e))}" for e in passing[:1]]
    kept, cut = within_budget(traces, budget_chars)
    said = complaints(failing[:2])
    if said:
        kept.append(prompt("proposer-complaints", lines="\n".join(f"- {mask(text)}" for text in said)))
    skills = "\n".join(f"- {s.name}: {s.description} [{evidence.get(s.name, 'no evidence yet')}]"
                       for s in library.values()) or "(none yet)"
    at_capacity = len(library) >= capacity
    names = ", ".join(f"<{name}>" for name in list(placeholders or {})[:4]) or "<value>"
    meanings = f"{placeholders_line(placeholders)}\n" if placeholders else ""
    user = prompt("proposer", api=f"API: {notes}\n\n" if notes else "", instruction=mask(instruction),
                  traces="\n\n".join(kept), label=label, count=len(library), capacity=capacity, skills=skills,
                  room=prompt("proposer-full" if at_capacity else "proposer-room"), format=FORMAT, names=names,
                  meanings=meanings, example=brief.example)
    return [{"role": "system", "content": brief.persona}, {"role": "user", "content": user}], cut


async def propose(
    model: Model,
    prompt: list[dict[str, str]],
    count: int,
    *,
    temperature: float,
    seed: int,
    max_tokens: int = 700,
) -> tuple[list[Proposal | str], list[ChatResult]]:
    """``count`` proposals (or the reason each one failed), drawn at ``temperature``."""
    proposals: list[Proposal | str] = []
    results: list[ChatResult] = []
    for index in range(count):
        try:
            proposal, calls = await draft(model, prompt, max_tokens=max_tokens, temperature=temperature,
                                          seed=seed + index)
            results.extend(calls)
            proposals.append(proposal)
        except ModelUnavailable:
            raise  # an outage pauses the run (resumable); it is not a bad proposal
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
    mask: Callable[[str], str] = lambda text: text,
    notes: dict[str, str] | None = None,
) -> Candidate:
    """Validate one proposal into an Edit, or a refusal that says why.

    ``notes``: the environment's ``variable_notes``; what the skill's placeholders stand for is written
    into its text (``grasp.skills.with_meanings``), where only the arms that have the skill read it.

    ``mask`` first rewrites the declared task values and identifiers the model copied into
    placeholders (an exact, mechanical fix); a value in ``forbidden`` that is still there after it
    (an answer, a dose) is a leak, and the proposal is refused."""
    if isinstance(proposal, str):
        return Candidate(edit=None, refusal=proposal, group=group)
    name = normalize_name(proposal.name)
    target = normalize_name(proposal.target) if proposal.target else None
    kind = EditKind(proposal.action)
    if kind is EditKind.ADD and (similar := similar_skill(library, family, proposal.description)):
        # A second skill for the same thing would compete with the first in the executor's prompt (a small
        # model follows the wrong one): the draft becomes a rewrite of that skill, judged as such.
        kind, name = EditKind.MODIFY, similar
    if kind is EditKind.MODIFY and name not in library:
        # A rewrite of a skill nobody has is a new skill (the embedded proposer wrote MODIFY on an empty library
        # in two of its first three weather drafts): judged as the ADD it is, and refused if there is no room.
        kind = EditKind.ADD
    at_capacity = len(library) >= capacity
    if kind is EditKind.ADD and at_capacity:
        return Candidate(edit=None, refusal=f"ADD at capacity ({capacity})", group=group)
    if kind is EditKind.ADD and name in library:
        kind = EditKind.MODIFY  # the model meant a rewrite of an existing skill
    if kind is EditKind.MODIFY and name in library and not _written_for(library[name], family):
        # Drafted from one family's failures, a rewrite of another family's skill would take that skill away
        # from the tasks it was accepted for (seen on the main job: a lookup draft rewrote the magnesium
        # skill): it becomes a skill of its own for this family instead.
        kind, name = EditKind.ADD, _free_name(library, normalize_name(family) or name)
        if at_capacity:
            return Candidate(edit=None, refusal=f"ADD at capacity ({capacity}) (a rewrite of another family's "
                                                "skill becomes an ADD)", group=group)
    if kind in (EditKind.REMOVE, EditKind.REPLACE):
        target = target or (name if kind is EditKind.REMOVE else None)
        if target not in library:
            return Candidate(edit=None, refusal=f"field 'target': {kind.value} of unknown skill {target!r}",
                             group=group)
    if kind is EditKind.REMOVE:
        return Candidate(edit=Edit(kind=kind, target=target), group=group)
    description, body = mask(proposal.description), mask(proposal.body)
    text = f"{description}\n{body}"
    if leaked := leaked_values(forbidden, text):
        return Candidate(edit=None, refusal=f"leaks task values {leaked[:3]} (use placeholders)", group=group)
    for other in library.values():
        if other.name != (target or name) and other.description.strip().lower() == description.strip().lower():
            return Candidate(edit=None, refusal=f"duplicate trigger of skill {other.name!r}", group=group)
    try:
        skill = with_meanings(Skill(name=name, description=description, body=body[:MAX_BODY], tags=[family]),
                              notes or {})
        if kind is EditKind.REPLACE:
            return Candidate(edit=Edit(kind=kind, target=target, skill=skill), group=group)
        return Candidate(edit=Edit(kind=kind, skill=skill), group=group)
    except PydanticValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "skill"
        return Candidate(edit=None, refusal=f"invalid skill: {where}: {first['msg'][:160]}", group=group)


def _written_for(skill: Skill, family: str) -> bool:
    """Whether ``skill`` was learned for ``family`` (an imported skill with no family tag belongs to every one)."""
    return not skill.tags or family in skill.tags


def _free_name(library: dict[str, Skill], wanted: str) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3``, ...: the first name no skill of ``library`` has."""
    name, number = wanted, 2
    while name in library:
        name, number = f"{wanted}-{number}", number + 1
    return name


def similar_skill(library: dict[str, Skill], family: str, description: str) -> str | None:
    """The library's skill that a new one for ``family`` described by ``description`` would duplicate: one
    written for the same family whose trigger shares a content word with it (first by name), or None."""
    said = words(description)
    same = sorted(name for name, skill in library.items() if family in skill.tags and words(skill.description) & said)
    return same[0] if same else None
