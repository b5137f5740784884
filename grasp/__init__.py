"""grasp: learn a small library of skills from an agent's failures, keep only what is proven to help."""

from .config import AdvancedConfig, GateConfig, LoopConfig, ModelConfig, RunConfig
from .edits import Edit, EditKind, Evidence, ProbeOutcome
from .environment import Environment, Episode, Hints, Session, Step
from .protocol import Protocol
from .errors import GraspError
from .evaluate import EvalResult, evaluate
from .improve import ImproveResult, improve
from .skills import Skill
from .store import LibraryStore, Version
from .tasks import Grade, Task

__all__ = [
    "Edit",
    "EditKind",
    "Environment",
    "Episode",
    "EvalResult",
    "Evidence",
    "AdvancedConfig",
    "GateConfig",
    "Grade",
    "GraspError",
    "Hints",
    "ImproveResult",
    "LibraryStore",
    "LoopConfig",
    "ModelConfig",
    "ProbeOutcome",
    "Protocol",
    "RunConfig",
    "Session",
    "Skill",
    "Step",
    "Task",
    "Version",
    "evaluate",
    "improve",
]
__version__ = "0.1.0"
