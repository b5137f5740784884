"""Persistent state of grasp: the database and the versioned skill libraries."""

from .db import Database, default_db_path
from .library import LibraryStore
from .records import Decision, LibraryInfo, SkillRevision, Version, apply_edit, parse_ref

__all__ = [
    "Database",
    "Decision",
    "LibraryInfo",
    "LibraryStore",
    "SkillRevision",
    "Version",
    "apply_edit",
    "default_db_path",
    "parse_ref",
]
