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


class Grade(BaseModel):
    """The outcome of one episode as the grader saw it."""

    passed: bool
    reason: str = ""
    tags: list[str] = Field(default_factory=list)  # failure tags for the proposer, e.g. "answer-with-units"
