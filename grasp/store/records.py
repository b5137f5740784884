"""Records read from the library store, and the pure rules of applying an edit."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from ..edits import Edit, EditKind, Evidence
from ..errors import ValidationError
from ..skills import Skill


class Version(BaseModel):
    """One immutable state of a library and how it came to be."""

    library: str
    number: int
    parent: int | None
    origin: str
    message: str
    edit: Edit | None
    evidence: Evidence | None
    content_hash: str
    created_at: datetime
    skills: dict[str, Skill]

    @property
    def ref(self) -> str:
        return f"{self.library}@{self.number}"


class SkillRevision(BaseModel):
    """One point in a skill's own history; ``skill`` is None where it was removed."""

    name: str
    revision: int
    version: int
    skill: Skill | None


# Where a decision was made, read by counters, reports and bench costs (never parsed from its reason):
#   invalid  - the draft was unusable (a reply that did not parse, a leak, no room)
#   lint     - refused by the refine loop's lint (the environment rejects it, a rewrite repeated the mistake)
#   trial    - refused at trial: it fixed none of the batch failures it was built for; no probe episode spent
#   unjudged - no probe items could be drawn outside what built it
#   gate     - judged on a probe, accepted or refused
#   ungated  - committed by a rule that needs no probe (accept-all with one candidate)
#   human    - applied by hand (``grasp library apply``, an import), no gate
STAGES = ("invalid", "lint", "trial", "unjudged", "gate", "ungated", "human")
Stage = Literal["invalid", "lint", "trial", "unjudged", "gate", "ungated", "human"]


class Decision(BaseModel):
    """A decision, accepted or refused, with the evidence behind it and the stage it was made at."""

    stage: Stage
    base_version: int
    result_version: int | None
    origin: str
    edit: Edit | None
    evidence: Evidence
    run_id: str | None
    created_at: datetime


class LibraryInfo(BaseModel):
    name: str
    capacity: int
    head: int
    skill_count: int


def parse_ref(ref: str) -> tuple[str, int | None]:
    """Split ``NAME[@VERSION]``; VERSION may be a number or ``head``."""
    name, _, number = ref.partition("@")
    if not number or number == "head":
        return name, None
    if not number.isdigit():
        raise ValidationError(f"library reference {ref!r}: version must be a number, got {number!r}")
    return name, int(number)


def apply_edit(skills: dict[str, Skill], edit: Edit) -> dict[str, Skill]:
    """The skills after ``edit``; raises ValidationError when it does not fit."""
    result = dict(skills)
    if edit.kind is EditKind.ADD:
        assert edit.skill is not None
        if edit.skill.name in result:
            raise ValidationError(f"ADD {edit.skill.name}: a skill of that name exists; use MODIFY")
        result[edit.skill.name] = edit.skill
    elif edit.kind is EditKind.MODIFY:
        assert edit.skill is not None
        if edit.skill.name not in result:
            raise ValidationError(f"MODIFY {edit.skill.name}: no skill of that name in the library")
        result[edit.skill.name] = edit.skill
    else:
        if edit.target not in result:
            raise ValidationError(f"{edit.kind.value} {edit.target}: no skill of that name in the library")
        del result[edit.target]  # type: ignore[arg-type]
        if edit.kind is EditKind.REPLACE:
            assert edit.skill is not None
            if edit.skill.name in result:
                raise ValidationError(f"REPLACE: a skill named {edit.skill.name} exists already")
            result[edit.skill.name] = edit.skill
    return result
