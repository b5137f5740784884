"""Choosing which skills an episode sees: relevant, few, deterministic.

Relevance = a tag naming the task's family (strong) plus words shared by the
skill's description and the task's instruction. Ties break by name, so the
same library and task always give the same skills in the same order, and the
prompt prefix stays stable for the KV cache.
"""

from __future__ import annotations

import re

from ..skills import Skill
from ..tasks import Task

WORD = re.compile(r"[a-z0-9]{3,}")
STOP = {"the", "and", "for", "with", "when", "use", "this", "that", "from", "are", "asked", "answer"}


def words(text: str, ignore: frozenset[str] = frozenset()) -> set[str]:
    return {word for word in WORD.findall(text.lower()) if word not in STOP and word not in ignore}


def relevance(skill: Skill, task: Task, ignore: frozenset[str] = frozenset()) -> float:
    score = 0.0
    if task.family in skill.tags or "all" in skill.tags:
        score += 10.0
    score += len(words(skill.description, ignore) & words(task.instruction, ignore))
    return score


def select_skills(skills: dict[str, Skill] | list[Skill], task: Task, k: int = 3, *,
                  ignore: frozenset[str] = frozenset()) -> list[Skill]:
    """Up to ``k`` skills with positive relevance, most relevant first; ``ignore``: the environment's
    common words (``Environment.common_words``), which say nothing about relevance there."""
    pool = list(skills.values()) if isinstance(skills, dict) else list(skills)
    scored = [(relevance(skill, task, ignore), skill) for skill in pool]
    ranked = sorted((pair for pair in scored if pair[0] > 0), key=lambda pair: (-pair[0], pair[1].name))
    return [skill for _, skill in ranked[:k]]


def skills_block(skills: list[Skill]) -> str:
    if not skills:
        return ""
    body = "\n\n".join(skill.to_markdown() for skill in skills)
    return f"\n\nSkills learned from earlier work (follow them when they apply):\n\n{body}"
