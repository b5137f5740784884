"""The documentation's runnable examples run as written, so they cannot rot."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", ROOT / "docs" / "environments.md"]
RUNNABLE = re.compile(r"<!-- runnable -->\s*```python\n(.*?)```", re.DOTALL)


def examples() -> list[tuple[str, str]]:
    found = []
    for document in DOCUMENTS:
        for number, code in enumerate(RUNNABLE.findall(document.read_text(encoding="utf-8")), 1):
            found.append((f"{document.relative_to(ROOT)}#{number}", code))
    return found


def test_each_document_with_examples_has_a_runnable_one() -> None:
    assert {name.split("#")[0] for name, _ in examples()} == {str(d.relative_to(ROOT)) for d in DOCUMENTS}


@pytest.mark.parametrize(("name", "code"), examples(), ids=[name for name, _ in examples()])
def test_a_runnable_example_runs_as_written(name: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)  # an example may write its database where it runs
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    runpy.run_path(str(script), run_name="__main__")
    if name == "README.md#1":  # the README's example learns its skill and shows the held-out sealed test
        printed = capsys.readouterr().out
        assert "['look-up-the-unit-price']" in printed
        assert "sealed test world: shop seed 1000 (held out" in printed
        assert re.search(r"sealed test: 0/12 \(0%\) -> 12/12 \(100%\).*fixed 12, broken 0", printed)


def test_the_links_of_the_readme_lead_to_files_that_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#:]+)\)", text):
        assert (ROOT / target).exists(), target


def test_both_readme_commands_build_the_runtime_the_crash_check_names_as_portable() -> None:
    from grasp.models.runtime import PORTABLE_CMAKE_ARGS

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    for marker in ("<!-- main-command -->", "<!-- test-command -->"):
        command = text.split(marker, 1)[1].split("```bash\n", 1)[1].split("\n", 1)[0]
        assert f'CMAKE_ARGS="{PORTABLE_CMAKE_ARGS}" .venv/bin/pip install' in command, marker
