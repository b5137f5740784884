"""The proposer's worked example: drawn from the run itself, not from the environment.

A small proposer copies its example's shape (its name, its steps, a ``_count=1`` kept for an average), so
one fixed example teaches one shape to every family. Once the run has something of its own, that is the
example, in this order:

1. a passing trace of the family being learned, its accepted steps with every task value a placeholder
   (the shape that worked here, on this very kind of task);
2. a skill the run has already accepted (the family's own first, then another family's): written in this
   environment's conventions, and proven at the gate;
3. only until then, the environment's brief example (``Hints.proposer_brief``), which is of a shape no
   task family answers with.
"""

from __future__ import annotations

from ..environment import Environment, Episode, Hints
from ..skills import Skill
from ..tasks import Task
from .drafts import Proposal, render_draft
from .induction import template_text, workflow


def trace_example(passing: Episode, task: Task, environment: Environment) -> str | None:
    """``passing`` as the SKILL.md draft the proposer answers with: its accepted steps, every task value a
    placeholder (as induction writes them); None when it shows no procedure (only an answer)."""
    steps = workflow(passing, task, environment)
    if len(steps) < 2:
        return None
    named = template_text(task, environment)
    body = "\n".join(f"{number}. {step}" for number, step in enumerate(steps, 1))
    return render_draft(Proposal(action="ADD", name=named.name.replace("_", "-"), description=named.description,
                                 body=body))


def library_example(skills: dict[str, Skill], family: str) -> str | None:
    """An accepted skill of ``skills`` as a draft: the family's own first (by name), else another family's;
    None when the library is empty. A reflection-notes list is no procedure and is never the example."""
    procedures = [skill for skill in skills.values() if "all" not in skill.tags]
    ranked = sorted(procedures, key=lambda skill: (family not in skill.tags, skill.name))
    if not ranked:
        return None
    skill = ranked[0]
    return render_draft(Proposal(action="ADD", name=skill.name, description=skill.description, body=skill.body))


def worked_example(environment: Environment, hints: Hints, skills: dict[str, Skill], family: str, *,
                   passing: Episode | None = None, task: Task | None = None) -> str:
    """The example a proposer prompt shows: the passing trace, else an accepted skill, else the brief's."""
    if passing is not None and task is not None and (drawn := trace_example(passing, task, environment)):
        return drawn
    return library_example(skills, family) or hints.proposer_brief().example
