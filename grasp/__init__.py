"""grasp: learn a small library of skills from an agent's failures, keep only what is proven to help."""

from .edits import Edit, EditKind, Evidence, ProbeOutcome
from .errors import GraspError
from .skills import Skill
from .store import LibraryStore, Version

__all__ = [
    "Edit",
    "EditKind",
    "Evidence",
    "GraspError",
    "LibraryStore",
    "ProbeOutcome",
    "Skill",
    "Version",
]
__version__ = "0.1.0"
