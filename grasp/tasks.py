"""Tasks and grades: what every environment hands to grasp and gets back."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Task(BaseModel):
    """One task instance. ``family`` drives probe stratification and skill tags;
    ``solution`` is read only by the environment's grader, never shown to the agent."""

    model_config = ConfigDict(frozen=True)

    id: str
    family: str
    instruction: str
    context: str = ""
    solution: dict[str, Any] = Field(default_factory=dict)
    # Values that come from the task (an id, a code, "now", values derived from them), by placeholder
    # name: induction writes <NAME> where a trace used one, and the proposer sees them masked. A list
    # gives other spellings of the same value (an encoded form, say); the first one is canonical.
    variables: dict[str, str | list[str]] = Field(default_factory=dict)
    # The answer the task prescribes when nothing is found ("answer -1 if none": [-1]); None when it prescribes
    # none. The learner reads it (a pass that only gave it teaches nothing; an induced skill states it as the
    # condition it is prescribed for); it is part of the task, like its instruction, not a yardstick.
    no_result: list[Any] | None = None

    def spellings(self) -> dict[str, list[str]]:
        """Every declared spelling of every variable, by name (blank ones dropped)."""
        return {name: [v for v in ([value] if isinstance(value, str) else value) if v]
                for name, value in self.variables.items()}


class Grade(BaseModel):
    """The outcome of one episode as the grader saw it."""

    passed: bool
    reason: str = ""
    tags: list[str] = Field(default_factory=list)  # failure tags for the proposer, e.g. "answer-with-units"
