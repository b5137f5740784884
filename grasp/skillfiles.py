"""Agent Skills folders: export a library version, import a folder back.

Export writes ``name/SKILL.md`` with YAML frontmatter (``name``,
``description``, ``metadata`` of string values) as the Agent Skills rules ask.
Import also reads the flat ``*.md`` files written by the GRASP paper's public
code (``tags`` and ``version`` at the top level, names with underscores),
normalizing names and reporting each change. Every file is checked before
anything is returned, so an import is all or nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError as PydanticValidationError

from .errors import SkillFileError, ValidationError
from .skills import MAX_DESCRIPTION, Skill, name_problem, normalize_name

SKILL_FILE = "SKILL.md"
# Keys the Agent Skills format defines at the top level of the frontmatter.
STANDARD_KEYS = {"name", "description", "license", "compatibility", "allowed-tools", "metadata"}
# Keys we write inside metadata; everything else there is the skill's own metadata.
OWN_METADATA = {"version", "tags", "provenance", "library"}


@dataclass
class ImportResult:
    skills: list[Skill]
    notes: list[str] = field(default_factory=list)


def render_skill_file(skill: Skill, *, version: int | None = None, provenance: str = "") -> str:
    """The text of one SKILL.md."""
    metadata: dict[str, str] = {}
    if version is not None:
        metadata["version"] = str(version)
    if skill.tags:
        metadata["tags"] = ", ".join(skill.tags)
    if provenance:
        metadata["provenance"] = provenance
    for key, value in sorted(skill.metadata.items()):
        metadata[key] = _encode(value)
    front: dict[str, Any] = {"name": skill.name, "description": skill.description}
    if metadata:
        front["metadata"] = metadata
    return with_frontmatter(front, f"\n{skill.body}")


def with_frontmatter(front: dict[str, Any], body: str, *, width: int = 100) -> str:
    """``body`` under a ``---`` YAML frontmatter of ``front``, keys in their order (what
    :func:`split_frontmatter` reads back); ``width``: where YAML may fold a long value."""
    header = yaml.safe_dump(front, sort_keys=False, allow_unicode=True, width=width)
    return f"---\n{header}---\n{body}"


def export_skills(skills: list[Skill], folder: Path, *, version: int | None = None, provenance: str = "") -> list[Path]:
    """Write one ``name/SKILL.md`` per skill under ``folder``; returns the files."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for skill in skills:
        target = folder / skill.name / SKILL_FILE
        target.parent.mkdir(exist_ok=True)
        target.write_text(render_skill_file(skill, version=version, provenance=provenance), encoding="utf-8")
        written.append(target)
    return written


def import_skills(folder: Path) -> ImportResult:
    """Read every skill under ``folder``; raise SkillFileError on the first bad file."""
    if not folder.is_dir():
        raise ValidationError(f"{folder}: not a folder")
    files = sorted(folder.glob(f"*/{SKILL_FILE}")) + sorted(
        path for path in folder.glob("*.md") if path.name.upper() != "README.MD"
    )
    if not files:
        raise ValidationError(f"{folder}: no */SKILL.md or *.md skill files found")
    result = ImportResult(skills=[])
    seen: dict[str, Path] = {}
    for path in files:
        skill, notes = parse_skill_file(path)
        if skill.name in seen:
            raise SkillFileError(str(path), "name", f"{skill.name!r} is also the name of {seen[skill.name]}")
        seen[skill.name] = path
        result.skills.append(skill)
        result.notes.extend(notes)
    return result


def parse_skill_file(path: Path) -> tuple[Skill, list[str]]:
    """Parse one skill file; returns the skill and notes about normalizations."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SkillFileError(where, "(file)", "is not UTF-8 text") from None
    front, body = split_frontmatter(text, where)
    notes: list[str] = []
    is_agent_skill = path.name == SKILL_FILE

    name = front.get("name")
    if not isinstance(name, str) or not name.strip():
        raise SkillFileError(where, "name", "is required and must be a string")
    if name_problem(name):
        if is_agent_skill:
            raise SkillFileError(where, "name", f"{name!r} {name_problem(name)}")
        fixed = normalize_name(name)
        if name_problem(fixed):
            raise SkillFileError(where, "name", f"{name!r} cannot be turned into a valid skill name")
        notes.append(f"{where}: name {name!r} normalized to {fixed!r}")
        name = fixed
    if is_agent_skill and path.parent.name != name:
        raise SkillFileError(where, "name", f"{name!r} must match its folder name {path.parent.name!r}")

    description = front.get("description")
    if not isinstance(description, str) or not description.strip():
        raise SkillFileError(where, "description", "is required and must be a non-empty string")
    if len(description.strip()) > MAX_DESCRIPTION:
        raise SkillFileError(where, "description", f"must be at most {MAX_DESCRIPTION} characters")
    if not body.strip():
        raise SkillFileError(where, "(body)", "the Markdown body after the frontmatter is empty")

    tags, extra = _tags_and_metadata(front, where, is_agent_skill)
    try:
        skill = Skill(name=name, description=description, body=body, tags=tags, metadata=extra)
    except PydanticValidationError as error:
        first = error.errors()[0]
        raise SkillFileError(where, str(first["loc"][0]), first["msg"]) from None
    return skill, notes


def split_frontmatter(text: str, where: str) -> tuple[dict[str, Any], str]:
    """The YAML frontmatter of ``text`` as a mapping, and the body after it; ``SkillFileError`` naming ``where``
    and the field otherwise (also how a proposer's SKILL.md draft is read: grasp/improve/drafts.py)."""
    lines = text.lstrip("\ufeff").splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise SkillFileError(where, "(frontmatter)", "file must start with a '---' YAML frontmatter block")
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            break
    else:
        raise SkillFileError(where, "(frontmatter)", "the frontmatter has no closing '---' line")
    try:
        front = _load_frontmatter(lines[1:index])
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 2}" if mark else ""
        raise SkillFileError(where, "(frontmatter)", f"is not valid YAML{line}") from None
    if not isinstance(front, dict):
        raise SkillFileError(where, "(frontmatter)", "must be a YAML mapping of keys to values")
    return front, "".join(lines[index + 1 :])


PLAIN_LINE = re.compile(r"^([A-Za-z][\w-]*):[ \t]+([^'\"\[{|>&*!%@`#\s].*?)\s*$")


def _load_frontmatter(lines: list[str]) -> Any:
    """The frontmatter as YAML; when that fails, again with each one-line ``key: value`` quoted. A plain
    value with ``: `` inside (``description: Use when asked: the dose``) is what people and models write,
    and YAML reads it as a nested mapping; quoted, it is the string that was meant."""
    try:
        return yaml.safe_load("".join(lines)) or {}
    except yaml.YAMLError as problem:
        quoted = [PLAIN_LINE.sub(lambda m: f"{m[1]}: {json.dumps(m[2], ensure_ascii=False)}", line.rstrip("\n")) + "\n"
                  for line in lines]
        try:
            return yaml.safe_load("".join(quoted)) or {}
        except yaml.YAMLError:
            raise problem from None  # the first reading's mark names the line as the author wrote it


def _tags_and_metadata(front: dict[str, Any], where: str, is_agent_skill: bool) -> tuple[list[str], dict[str, Any]]:
    metadata = front.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise SkillFileError(where, "metadata", "must be a mapping")
    if is_agent_skill:
        unknown = sorted(set(front) - STANDARD_KEYS)
        if unknown:
            raise SkillFileError(where, unknown[0], "is not an Agent Skills frontmatter field (put it under metadata)")
    raw_tags = front.get("tags", metadata.get("tags", []))
    if isinstance(raw_tags, str):
        tags = [tag.strip() for tag in raw_tags.split(",")]
    elif isinstance(raw_tags, list) and all(isinstance(tag, (str, int)) for tag in raw_tags):
        tags = [str(tag) for tag in raw_tags]
    else:
        raise SkillFileError(where, "tags", "must be a list of strings or a comma-separated string")
    extra = {key: _decode(value) for key, value in metadata.items() if key not in OWN_METADATA}
    if not is_agent_skill:
        extra.update({key: value for key, value in front.items() if key not in STANDARD_KEYS | {"tags", "version"}})
    return tags, extra


def _encode(value: Any) -> str:
    """Metadata values must be strings in SKILL.md: JSON-encode anything that
    would not read back as itself, so that import restores the exact value."""
    if isinstance(value, str) and _decode(value) == value:
        return value
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _decode(value: Any) -> Any:
    """Undo :func:`_encode`: a value that parses as JSON was encoded."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value
