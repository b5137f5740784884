"""`grasp library` from a subprocess, as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

from .conftest import run_cli


def write_edit(path: Path, kind: str, name: str, body: str = "Use <MRN>.") -> Path:
    edit = {"kind": kind, "skill": {"name": name, "description": f"Use for {name}.", "body": body}}
    path.write_text(json.dumps(edit))
    return path


def test_library_workflow_from_the_shell(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    assert run_cli("library", "init", "med", "--capacity", "2", db=db).returncode == 0
    applied = run_cli("library", "apply", "med", str(write_edit(tmp_path / "e1.json", "ADD", "latest-lab")), db=db)
    assert applied.returncode == 0, applied.stderr
    assert "med@1: ADD latest-lab" in applied.stdout
    modified = run_cli("library", "apply", "med", str(write_edit(tmp_path / "e2.json", "MODIFY", "latest-lab", "Sort by -date.")), db=db)
    assert modified.returncode == 0, modified.stderr

    log = run_cli("library", "log", "med", db=db)
    assert log.stdout.index("v2") < log.stdout.index("v1") < log.stdout.index("v0")
    assert "MODIFY latest-lab" in log.stdout

    diff = run_cli("library", "diff", "med", "1", "2", db=db)
    assert "modified: latest-lab" in diff.stdout
    assert "-Use <MRN>." in diff.stdout and "+Sort by -date." in diff.stdout
    assert "\x1b[" not in diff.stdout  # plain text when piped

    shown = run_cli("library", "show", "med@1", "latest-lab", db=db)
    assert "Use <MRN>." in shown.stdout

    assert run_cli("library", "export", "med", str(tmp_path / "out"), db=db).returncode == 0
    assert (tmp_path / "out" / "latest-lab" / "SKILL.md").is_file()
    imported = run_cli("library", "import", "copy", str(tmp_path / "out"), db=db)
    assert imported.returncode == 0, imported.stderr
    listing = run_cli("library", "list", db=db)
    assert "copy" in listing.stdout and "med" in listing.stdout

    restored = run_cli("library", "checkout", "med", "1", db=db)
    assert "med@3: restored version 1" in restored.stdout


def test_user_errors_are_one_line_without_traceback(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    run_cli("library", "init", "med", "--capacity", "1", db=db)
    run_cli("library", "apply", "med", str(write_edit(tmp_path / "a.json", "ADD", "one")), db=db)
    cases = [
        (("library", "apply", "med", str(write_edit(tmp_path / "b.json", "ADD", "two"))), "holds at most 1"),
        (("library", "show", "nope"), "no library named 'nope'"),
        (("library", "show", "med@x"), "version must be a number"),
        (("library", "diff", "med", "0", "9"), "no version 9"),
        (("library", "apply", "med", str(tmp_path / "missing.json")), "no such file"),
        (("library", "import", "med", str(tmp_path)), "no */SKILL.md"),
    ]
    (tmp_path / "bad.yaml").write_text("kind: ADD\nskill: {name: Bad Name, description: d, body: b}\n")
    cases.append((("library", "apply", "med", str(tmp_path / "bad.yaml")), "field 'skill.name'"))
    for args, expected in cases:
        result = run_cli(*args, db=db)
        assert result.returncode == 1, args
        assert expected in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
