"""Choosing which skills an episode sees: the ones that fit, few, deterministic.

Fit, not shared words: a skill tagged with the task's family (or "all") fits it; a skill tagged only
for other families fits only when the instruction contains nearly all of its trigger's words, not
merely a few (a small executor given a "within 24 hours" skill for a "whenever it was taken" task
follows the wrong one). Untagged skills (imported by hand) fit by the share of their description's
words that the instruction contains. Ties break by
name, so the same library and task always give the same skills in the same order, and the prompt
prefix stays stable for the KV cache.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..skills import Skill
from ..tasks import Task

WORD = re.compile(r"[a-z0-9]{3,}")
STOP = {"the", "and", "for", "with", "when", "use", "this", "that", "from", "are", "asked", "answer"}
TAGGED = 10.0  # a skill written for the task's family outranks any untagged one
CROSS_FAMILY_FIT = 0.75  # share of its trigger's words a task must contain to get another family's skill
WORDS_FIT = 0.5  # routing by words: share of a skill's description and name words the task must contain
Routing = Literal["family", "words"]


def words(text: str, ignore: frozenset[str] = frozenset()) -> set[str]:
    return {word for word in WORD.findall(text.lower()) if word not in STOP and word not in ignore}


def relevance(skill: Skill, task: Task, ignore: frozenset[str] = frozenset(), routing: Routing = "family") -> float:
    """How well ``skill`` fits ``task``: 0 when it does not; above ``TAGGED`` when it names the family.

    ``routing="words"`` is how a deployed agent chooses (Claude Code reading an exported library, say): it has no
    family label, only the task's text and each skill's description and name. A skill tagged ``all`` still fits
    every task: the tag travels with the skill."""
    if routing == "words":  # the share of the description's words the task has; a word of the name counts as well
        described, named = words(skill.description, ignore), words(skill.name.replace("-", " "), ignore)
        said = words(f"{task.context} {task.instruction}", ignore)
        share = min(1.0, len((described | named) & said) / len(described)) if described else 0.0
        if "all" in skill.tags:
            return TAGGED + share
        return share if share >= WORDS_FIT else 0.0
    described = words(skill.description, ignore)
    share = len(described & words(task.instruction, ignore)) / len(described) if described else 0.0
    if task.family in skill.tags or "all" in skill.tags:
        return TAGGED + share
    if skill.tags:  # written for other families: only when the task says nearly all its trigger says
        return share if share >= CROSS_FAMILY_FIT else 0.0
    return share


@dataclass(frozen=True)
class Selection:
    """How an episode's skills are chosen: at most ``k``, routed by the task's family label or by words alone."""

    k: int = 3
    routing: Routing = "family"


def select_skills(skills: dict[str, Skill] | list[Skill], task: Task, k: int = 3, *,
                  ignore: frozenset[str] = frozenset(), routing: Routing = "family") -> list[Skill]:
    """Up to ``k`` skills that fit, best first; ``ignore``: the environment's common words
    (``Environment.common_words``), which say nothing about fit there."""
    pool = list(skills.values()) if isinstance(skills, dict) else list(skills)
    scored = [(relevance(skill, task, ignore, routing), skill) for skill in pool]
    ranked = sorted((pair for pair in scored if pair[0] > 0), key=lambda pair: (-pair[0], pair[1].name))
    return [skill for _, skill in ranked[:k]]


def followed(skills: list[Skill], actions: list[str]) -> str | None:
    """The injected skill the episode's actions followed: the one sharing the most words (ids and values
    aside: placeholders never match) with what the agent sent; None when no skill was shown or none matches."""
    sent = words(" ".join(actions))
    scored = sorted(((len(words(skill.body) & sent), skill.name) for skill in skills), key=lambda p: (-p[0], p[1]))
    return scored[0][1] if scored and scored[0][0] > 0 else None


def skills_block(skills: list[Skill]) -> str:
    """The skills as the executor reads them: each skill's own text and nothing else, so that whatever
    else the executor reads is the same with no skills and with any library."""
    if not skills:
        return ""
    body = "\n\n".join(skill.to_markdown() for skill in skills)
    return f"\n\nSkills learned from earlier work (follow them when they apply):\n\n{body}"
