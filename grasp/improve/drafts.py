"""Skill drafts in SKILL.md form: YAML frontmatter for the edit, a free Markdown body for the steps.

A proposer used to answer one JSON object whose ``body`` was a JSON string; a step that holds a JSON body
(every write) had to be escaped inside it, and the 1.5B proposer wrote ``FINISH([`` and stopped, or left
an unterminated string (a record_bp draft: 200 s lost). Markdown with YAML frontmatter is the form Agent
Skills are written in, and the form every model has read most of: nothing in the body needs escaping.

The frontmatter is read by the same code that imports Agent Skills (``grasp.skillfiles``); a draft that
does not parse gets one repair with the parser's own message, naming the field. A local model is
constrained by :data:`DRAFT_GRAMMAR`, which fixes the frontmatter's keys and action and leaves the body free.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

from pydantic import BaseModel, Field

from ..errors import ModelError, SkillFileError
from ..models.base import ChatResult, Model
from ..skillfiles import split_frontmatter, with_frontmatter
from . import templates

Action = Literal["ADD", "MODIFY", "REMOVE", "REPLACE"]
ACTIONS: tuple[str, ...] = get_args(Action)


class Proposal(BaseModel):
    """The edit a draft proposes, as read from its frontmatter and body."""

    action: Action
    name: str = Field(description="short hyphenated skill name, like sort-newest-first")
    target: str | None = Field(default=None, description="for REMOVE/REPLACE: the existing skill to remove")
    description: str = Field(default="", description="when to use the skill, one line")
    body: str = Field(default="", description="3-5 numbered steps; <PLACEHOLDERS> for the task's values")


WHERE = "the draft"

# The frontmatter's keys in order, each value one line that starts with a letter (no YAML indicator) and holds
# no '#' (YAML would cut a comment off silently; a ': ' inside is read as meant, grasp.skillfiles), then the
# body, unconstrained. REMOVE has an empty body.
DRAFT_GRAMMAR = r"""
root ::= "---\n" "action: " action "\n" "name: " name "\n" target? "description: " line "\n" "---\n" body
action ::= "ADD" | "MODIFY" | "REMOVE" | "REPLACE"
name ::= [a-z] [a-z0-9-]{0,47}
target ::= "target: " name "\n"
line ::= [A-Za-z] [^\n#]{9,300}
body ::= [^\x00]*
"""

FORMAT = templates.prompt("format")
CLOSING_FENCE = re.compile(r"\n?```\s*$")
NUMBERED = re.compile(r"^\s*\d+[.)]\s*")


def render_draft(proposal: Proposal) -> str:
    """``proposal`` as the SKILL.md draft a proposer writes (what a repair shows it back)."""
    front = {"action": proposal.action, "name": proposal.name}
    if proposal.target:
        front["target"] = proposal.target
    front["description"] = proposal.description
    return with_frontmatter(front, f"{proposal.body.strip()}\n", width=10_000)  # the description on one line


def parse_draft(text: str) -> Proposal:
    """The edit a SKILL.md draft proposes; ``SkillFileError`` naming the field when it is not one."""
    start = text.find("---")  # a model may say something first, or fence the draft
    if start > 0:
        before, text = text[:start], text[start:]
        if "```" in before:
            text = CLOSING_FENCE.sub("", text)
    front, body = split_frontmatter(text, WHERE)
    action = front.get("action")
    if not isinstance(action, str) or action.strip().upper() not in ACTIONS:
        raise SkillFileError(WHERE, "action", f"must be one of {', '.join(ACTIONS)} (got {action!r})")
    action = action.strip().upper()
    name = front.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SkillFileError(WHERE, "name", "is required: a short hyphenated name")
    target = front.get("target")
    if target is not None and not isinstance(target, str):
        raise SkillFileError(WHERE, "target", "must be the name of an existing skill")
    if action == "REPLACE" and not target:
        raise SkillFileError(WHERE, "target", "REPLACE needs the name of the skill to remove")
    description = front.get("description")
    if action != "REMOVE" and (not isinstance(description, str) or len(description.strip()) < 10):
        raise SkillFileError(WHERE, "description", "is required: one line, 'Use when ...'")
    if action != "REMOVE" and len(body.strip()) < 20:
        raise SkillFileError(WHERE, "(body)", "the steps after the frontmatter are missing")
    return Proposal(action=action, name=name.strip(), target=target.strip() if target else None,
                    description=(description or "").strip(), body=steps_only(body))


def steps_only(body: str) -> str:
    """``body`` up to a closing ``---`` line, without a step that repeats an earlier one word for word
    (the steps numbered again from 1).

    The embedded proposer often closes its draft with ``---`` and then explains it ("This skill is designed
    to help..."), or runs on repeating one step until its token limit: neither is a step for the executor."""
    kept: list[str] = []
    seen: set[str] = set()
    for line in body.strip().splitlines():
        if line.strip() == "---":
            break
        if not NUMBERED.match(line):
            kept.append(line)
            continue
        step = NUMBERED.sub("", line).strip()
        if step.lower() not in seen:
            seen.add(step.lower())
            kept.append(f"{len(seen)}. {step}")
    return "\n".join(kept).strip()


async def draft(model: Model, prompt: list[dict[str, str]], *, max_tokens: int, temperature: float | None,
                seed: int | None) -> tuple[Proposal, list[ChatResult]]:
    """One SKILL.md draft from ``model``, with one repair from the parser's message; ``ModelError`` after that."""
    grammar = DRAFT_GRAMMAR if model.supports_grammar else None
    conversation, results, problem = list(prompt), [], ""
    for attempt in range(2):
        result = await model.chat(conversation, grammar=grammar, max_tokens=max_tokens, temperature=temperature,
                                  seed=seed)
        results.append(result)
        try:
            return parse_draft(result.text), results
        except SkillFileError as error:
            problem = f"field '{error.field}': {error.rule}"
        if attempt == 0:
            conversation += [{"role": "assistant", "content": result.text},
                             {"role": "user", "content": templates.prompt("draft-unparsed", problem=problem)}]
    raise ModelError(f"{model.id} gave no valid SKILL.md draft after one repair: {problem}")
