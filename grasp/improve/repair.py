"""Repair from the environment's own words.

When the environment rejects a request written in a skill (``check_skill``),
its message says exactly what to change (the valid parameter names, the
encoding rule). That message goes back to the proposer, up to ``repairs``
times, and each repair is checked again. A repair that repeats the very same
mistake is refused at once: asking a third time rarely helps a model that did
not listen the second time, and each ask costs a call.
"""

from __future__ import annotations

from collections.abc import Callable

from ..environment import Environment
from ..models.base import Model
from .proposer import Candidate, Proposal, propose


def skill_text(candidate: Candidate) -> str | None:
    skill = candidate.edit.skill if candidate.edit else None
    return f"{skill.description}\n{skill.body}" if skill else None


async def checked(
    candidate: Candidate,
    proposal: Proposal | str,
    prompt: list[dict[str, str]],
    *,
    environment: Environment,
    proposer: Model,
    validate: Callable[[Proposal | str], Candidate],
    repairs: int,
    seed: int,
    max_tokens: int = 700,
) -> Candidate:
    """``candidate`` if the environment accepts its requests, else a repaired one, else a refusal."""
    text = skill_text(candidate)
    problem = environment.check_skill(text) if text else None
    if problem is None or isinstance(proposal, str):
        return candidate
    conversation, last = list(prompt), proposal
    for attempt in range(1, repairs + 1):
        conversation += [
            {"role": "assistant", "content": last.model_dump_json(exclude_none=True)},
            {"role": "user", "content": f"The environment rejects a request in this skill: {problem}\n"
                                        "Change exactly that, keep the rest, and reply with the corrected JSON object."},
        ]
        [fixed], _ = await propose(proposer, conversation, 1, temperature=0.0, seed=seed + attempt,
                                   max_tokens=max_tokens)
        if isinstance(fixed, Proposal):  # a repair fixes the skill's text; the edit stays the one proposed
            fixed = fixed.model_copy(update={"action": last.action, "target": last.target})
        repaired = validate(fixed)
        if repaired.edit is None:
            return candidate.model_copy(update={"edit": None, "refusal": f"repair {attempt} unusable: {repaired.refusal}"})
        text = skill_text(repaired)
        still = environment.check_skill(text) if text else None
        if still is None:
            return repaired.model_copy(update={"origin": "repaired", "seen": candidate.seen})
        if still == problem:
            return candidate.model_copy(update={
                "edit": None, "refusal": f"repair {attempt} repeats the mistake the environment named: {problem[:200]}"})
        problem, last = still, fixed
    return candidate.model_copy(update={
        "edit": None, "refusal": f"the environment still rejects its request after {repairs} repair(s): {problem[:200]}"})
