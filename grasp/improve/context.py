"""What one run's parts share: its environment, its models, its config and its store, in one object.

A mechanism of the loop (the candidate assembly, say) needs most of these at once; handing it the run's
context rather than a dozen positional arguments keeps its constructor about what is its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..config import RunConfig
from ..environment import Environment, Episode, Hints
from ..models.base import Model
from ..store.runs import RunStore
from .state import RunState


@dataclass(frozen=True)
class RunContext:
    environment: Environment
    hints: Hints  # the environment's help to the learner, or the generic defaults (grasp-bare, an environment with none)
    executor: Model
    proposer: Model
    config: RunConfig
    runs: RunStore
    run_id: str
    state: RunState
    note: Callable[[str], None]  # a line for the live view and the run's events
    on_episode: Callable[[Episode], None] | None = None
