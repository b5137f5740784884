"""Unified diffs between two library versions, one block per changed skill (CLI and report share it)."""

from __future__ import annotations

import difflib

from .skillfiles import render_skill_file
from .store import Version


def diff_versions(old: Version, new: Version) -> list[str]:
    """Unified diff lines between two versions, one block per changed skill."""
    lines: list[str] = []
    for skill_name in sorted(set(old.skills) | set(new.skills)):
        before = render_skill_file(old.skills[skill_name]) if skill_name in old.skills else ""
        after = render_skill_file(new.skills[skill_name]) if skill_name in new.skills else ""
        if before == after:
            continue
        status = "added" if not before else "removed" if not after else "modified"
        lines.append(f"{status}: {skill_name}")
        lines.extend(
            line.rstrip("\n")
            for line in difflib.unified_diff(
                before.splitlines(keepends=True),
                after.splitlines(keepends=True),
                fromfile=f"{old.ref}/{skill_name}",
                tofile=f"{new.ref}/{skill_name}",
            )
        )
    return lines
