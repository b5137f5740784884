"""Agent Skills export/import: round trips and every kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from grasp.errors import SkillFileError
from grasp.skillfiles import export_skills, import_skills
from grasp.skills import content_hash

from .conftest import make_skill


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_export_then_import_gives_the_same_content_hash(tmp_path: Path) -> None:
    skills = [
        make_skill("latest-lab", "Sort with `_sort=-date`.\n\nAnswer <value>.", tags=["fhir", "labs"]),
        make_skill("no-units", "Answer numbers without units.", metadata={"origin_run": "r1", "score": 3}),
    ]
    export_skills(skills, tmp_path / "out", version=4, provenance="grasp lib@4")
    text = (tmp_path / "out" / "latest-lab" / "SKILL.md").read_text()
    assert text.startswith("---\nname: latest-lab\n")
    assert "version: '4'" in text and "tags: fhir, labs" in text
    imported = import_skills(tmp_path / "out")
    assert imported.notes == []
    assert content_hash(imported.skills) == content_hash(skills)


def test_paper_style_markdown_is_imported_with_names_normalized(tmp_path: Path) -> None:
    write(
        tmp_path / "check_mg_level.md",
        "---\nname: check_mg_level\ndescription: When asked for magnesium.\ntags: [mg, labs]\nversion: 2\n"
        "source: batch-3\n---\n# Check magnesium\nUse code MG.\n",
    )
    result = import_skills(tmp_path)
    (skill,) = result.skills
    assert skill.name == "check-mg-level"
    assert skill.tags == ("labs", "mg")
    assert skill.metadata == {"source": "batch-3"}
    assert result.notes == [f"{tmp_path / 'check_mg_level.md'}: name 'check_mg_level' normalized to 'check-mg-level'"]


@pytest.mark.parametrize(
    ("text", "field", "rule"),
    [
        ("no frontmatter here", "(frontmatter)", "must start with"),
        ("---\nname: x\n", "(frontmatter)", "no closing"),
        ("---\nname: [unclosed\n---\nbody", "(frontmatter)", "not valid YAML"),
        ("---\ndescription: d\n---\nbody", "name", "is required"),
        ("---\nname: Bad_Name\ndescription: d\n---\nbody", "name", "lowercase"),
        ("---\nname: good\n---\nbody", "description", "is required"),
        ("---\nname: good\ndescription: " + "x" * 1100 + "\n---\nbody", "description", "at most 1024"),
        ("---\nname: good\ndescription: d\n---\n   \n", "(body)", "empty"),
        ("---\nname: good\ndescription: d\nauthor: me\n---\nbody", "author", "not an Agent Skills"),
        ("---\nname: other\ndescription: d\n---\nbody", "name", "must match its folder"),
    ],
)
def test_bad_skill_files_name_the_file_field_and_rule(tmp_path: Path, text: str, field: str, rule: str) -> None:
    bad = write(tmp_path / "good" / "SKILL.md", text)
    with pytest.raises(SkillFileError) as caught:
        import_skills(tmp_path)
    assert caught.value.path == str(bad)
    assert caught.value.field == field
    assert rule in caught.value.rule


def test_one_bad_file_imports_nothing(tmp_path: Path) -> None:
    export_skills([make_skill("fine")], tmp_path)
    write(tmp_path / "zzz" / "SKILL.md", "---\nname: zzz\n---\nbody")
    with pytest.raises(SkillFileError, match="zzz"):
        import_skills(tmp_path)
