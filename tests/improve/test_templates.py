"""The writer's prompts are named templates in files: each one the code names exists, each file is used, and a
template filled without a field it needs says which."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from grasp.improve.templates import prompt

IMPROVE = Path(__file__).resolve().parents[2] / "grasp" / "improve"


def test_every_template_the_code_names_exists_and_every_file_is_named() -> None:
    code = "\n".join(path.read_text() for path in IMPROVE.glob("*.py"))
    named = set(re.findall(r'prompt\(\s*"([\w-]+)"', code))  # prompt("x") and templates.prompt("x")
    named |= {name for pair in re.findall(r'prompt\("([\w-]+)" if \w+ else "([\w-]+)"\)', code) for name in pair}
    files = {path.stem for path in (IMPROVE / "prompts").glob("*.md")}
    assert named and named == files, (named - files, files - named)


def test_a_missing_field_is_named() -> None:
    with pytest.raises(KeyError, match="problem"):
        prompt("draft-unparsed")
    assert "field 'name'" in prompt("draft-unparsed", problem="field 'name': is required")
