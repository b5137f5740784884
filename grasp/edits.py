"""Typed edits to a skill library and the evidence behind each decision.

REPLACE exists because the paper's public code split a REMOVE+ADD pair at
capacity and applied the ADD alone, overflowing the library; here the pair is
one atomic edit and the only way to add a skill at capacity.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .skills import Skill


class EditKind(str, Enum):
    ADD = "ADD"
    MODIFY = "MODIFY"
    REMOVE = "REMOVE"
    REPLACE = "REPLACE"


class Edit(BaseModel):
    """One change to a library.

    - ADD: ``skill`` is new.
    - MODIFY: ``skill`` replaces the existing skill of the same name.
    - REMOVE: ``target`` is removed.
    - REPLACE: ``target`` is removed and ``skill`` added, atomically.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: EditKind
    skill: Skill | None = None
    target: str | None = None
    rationale: str = ""

    @model_validator(mode="after")
    def _shape(self) -> "Edit":
        needs_skill = self.kind in (EditKind.ADD, EditKind.MODIFY, EditKind.REPLACE)
        needs_target = self.kind in (EditKind.REMOVE, EditKind.REPLACE)
        if needs_skill and self.skill is None:
            raise ValueError(f"{self.kind.value} needs a 'skill'")
        if not needs_skill and self.skill is not None:
            raise ValueError(f"{self.kind.value} takes no 'skill'")
        if needs_target and not self.target:
            raise ValueError(f"{self.kind.value} needs a 'target' (the skill to remove)")
        if not needs_target and self.target:
            raise ValueError(f"{self.kind.value} takes no 'target'")
        return self

    @property
    def skill_name(self) -> str:
        """The skill this edit is about, for logs."""
        if self.kind is EditKind.REPLACE:
            return f"{self.target}->{self.skill.name}"  # type: ignore[union-attr]
        return self.skill.name if self.skill else str(self.target)

    def summary(self) -> str:
        return f"{self.kind.value} {self.skill_name}"


class ProbeOutcome(BaseModel):
    """One probe item's outcome under the baseline and under the candidate."""

    model_config = ConfigDict(extra="forbid")

    task_id: str
    family: str = ""
    before: bool
    after: bool | None  # None: not run (stopped early)
    before_invalid: bool = False
    after_invalid: bool = False
    after_error: bool = False  # the candidate's episode errored (counted as a failure)

    @property
    def fixed(self) -> bool:
        return self.after is True and not self.before

    @property
    def regressed(self) -> bool:
        return self.after is False and self.before


class Evidence(BaseModel):
    """Why an edit was accepted or refused: what the gate saw and decided."""

    model_config = ConfigDict(extra="forbid")

    accepted: bool
    reason: str
    items: list[ProbeOutcome] = Field(default_factory=list)
    fixes: int = 0
    regressions: int = 0
    invalid_regressions: int = 0
    score: float = 0.0
    budget: int = 0
    p_value: float | None = None
    episodes_run: int = 0
    episodes_saved: int = 0
    models: dict[str, str] = Field(default_factory=dict)
    tokens: dict[str, int] = Field(default_factory=dict)
    extra: dict[str, Any] = Field(default_factory=dict)

    def one_line(self) -> str:
        """Short summary for ``grasp library log``."""
        verdict = "accepted" if self.accepted else "refused"
        parts = [
            f"{verdict}: +{self.fixes} fixed, -{self.regressions} regressed",
            f"score {self.score:g}",
            f"budget {self.budget}",
        ]
        if self.p_value is not None:
            parts.append(f"p={self.p_value:.3g}")
        return ", ".join(parts) + (f" ({self.reason})" if self.reason else "")

