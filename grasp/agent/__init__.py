"""The agent: one episode (loop), many episodes (runner), and which skills each sees (selection)."""

from .loop import run_episode
from .runner import library_key, run_tasks
from .selection import select_skills, skills_block

__all__ = ["library_key", "run_episode", "run_tasks", "select_skills", "skills_block"]
