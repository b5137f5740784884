"""Skills: short Markdown how-tos injected into an agent's context.

Names follow the Agent Skills rules so that any library can be exported as a
folder of ``name/SKILL.md`` files that other tools accept unchanged.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
MAX_NAME = 64
MAX_DESCRIPTION = 1024


def name_problem(name: str) -> str | None:
    """Return why ``name`` breaks the Agent Skills naming rules, or None."""
    if not name:
        return "must not be empty"
    if len(name) > MAX_NAME:
        return f"must be at most {MAX_NAME} characters (got {len(name)})"
    if not NAME_PATTERN.match(name):
        return (
            "must use only lowercase letters, digits and single hyphens, "
            "and must not start or end with a hyphen"
        )
    return None


def normalize_name(raw: str) -> str:
    """Turn a loose name (``Check_MG levels``) into an Agent Skills name."""
    lowered = re.sub(r"[^a-z0-9]+", "-", raw.strip().lower())
    return re.sub(r"-+", "-", lowered).strip("-")[:MAX_NAME].rstrip("-")


class Skill(BaseModel):
    """One skill: when to use it (description) and what to do (body)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str
    body: str
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        problem = name_problem(value)
        if problem:
            raise ValueError(f"skill name {value!r} {problem}")
        return value

    @field_validator("description")
    @classmethod
    def _valid_description(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("description must not be empty")
        if len(value) > MAX_DESCRIPTION:
            raise ValueError(f"description must be at most {MAX_DESCRIPTION} characters (got {len(value)})")
        return value

    @field_validator("body")
    @classmethod
    def _valid_body(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("body must not be empty")
        return value.strip() + "\n"

    @field_validator("tags", mode="before")
    @classmethod
    def _clean_tags(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str):
            value = value.split(",")
        return tuple(sorted({str(tag).strip() for tag in value if str(tag).strip()}))

    def canonical(self) -> dict[str, Any]:
        """The fields that define a skill's identity, in a stable form."""
        return {
            "name": self.name,
            "description": self.description,
            "body": self.body,
            "tags": list(self.tags),
            "metadata": self.metadata,
        }

    @property
    def content_hash(self) -> str:
        return content_hash([self])

    def to_markdown(self) -> str:
        """Render as the text injected into a prompt."""
        return f"### {self.name}\nWhen: {self.description}\n\n{self.body}"

    @property
    def placeholders(self) -> list[str]:
        """The ``<NAME>`` placeholders its description and body use, in order of first use."""
        return list(dict.fromkeys(PLACEHOLDER_NAME.findall(f"{self.description}\n{self.body}")))


PLACEHOLDER_NAME = re.compile(r"<([A-Za-z][\w-]*)>")
DEFINITION = re.compile(r"<([A-Za-z][\w-]*)>\s*(?:=|is\b)")


def defined_placeholders(text: str) -> set[str]:
    """Placeholders ``text`` says where to get itself (``<NAME> = ...``, ``<NAME> is ...``)."""
    return set(DEFINITION.findall(text))


def with_meanings(skill: Skill, notes: dict[str, str]) -> Skill:
    """``skill`` with a line, ahead of its steps, saying what each task placeholder it uses stands for
    (``notes``: the environment's ``variable_notes``), leaving out those it defines itself.

    The line is part of the skill's own text, so it is counted in its length, stored, shown by ``library
    show`` and read only by the arms that have the skill: the executor reads nothing else besides the
    skills that differs between no skills and a library. Placed before the steps, it is what turns a skill
    into an answer for a small executor (dev, magnesium: with "<SINCE_24H> = 24 hours before now" ahead of
    the request 10/10; after the steps 5/10; with none 5/10). Idempotent: the line defines what it names."""
    defined = defined_placeholders(f"{skill.description}\n{skill.body}")
    used = [name for name in skill.placeholders if name in notes and name not in defined]
    if not used:
        return skill
    line = "Placeholders: " + "; ".join(f"<{name}> = {notes[name]}" for name in used) + "."
    return skill.model_copy(update={"body": f"{line}\n{skill.body}"})


def content_hash(skills: list[Skill]) -> str:
    """sha256 of a set of skills; identical content gives an identical hash."""
    payload = [skill.canonical() for skill in sorted(skills, key=lambda s: s.name)]
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
