"""The run's cursor, stored after every finished step so `--resume` continues exactly there."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ValPoint(BaseModel):
    epoch: int  # 0: before learning
    version: int
    accuracy: float
    passed: int
    total: int


class RunState(BaseModel):
    epoch: int = 1
    batch: int = 0  # next batch to run in this epoch
    baseline_done: bool = False
    step_base: dict[str, int] = Field(default_factory=dict)  # step key -> library version it started from
    probe_pool: list[str] = Field(default_factory=list)  # dev task ids reserved for early probes
    # Each split's task ids as first drawn: a resume runs the same tasks under its stored cursor even if the
    # draw (split limits, families, sampling) would come out differently in the grasp that resumes it.
    drawn: dict[str, list[str]] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    proposals: dict[str, list[dict[str, Any]]] = Field(default_factory=dict)  # decision key -> candidates
    val: list[ValPoint] = Field(default_factory=list)
    val_done_epochs: list[int] = Field(default_factory=list)
    dev_accuracy: list[float] = Field(default_factory=list)
    identity: dict[str, str | None] = Field(default_factory=dict)  # what the run ran on (checked on resume)
    finished_training: bool = False
    checkpoint: int | None = None
    test_read: bool = False
    test: dict[str, Any] = Field(default_factory=dict)
    notes: list[str] = Field(default_factory=list)
    estimate: dict[str, Any] | None = None  # what the run was estimated to cost at most, before it started (grasp.estimate)


def best_val_point(points: list[ValPoint], checkpoint: str) -> ValPoint | None:
    """The val point whose library is final (``checkpoint``: "best-val" or "last"); None with no val items
    (the gated head is final). Under best-val the no-skill library competes, and a tie goes to the library
    with more gated evidence behind it (the later epoch)."""
    if not points:
        return None
    if checkpoint == "last":
        return max(points, key=lambda point: point.epoch)
    return max(points, key=lambda point: (point.accuracy, point.epoch))
