"""Per-skill use: shown, followed, and passing when followed versus not, in the run, its report and library show."""

from __future__ import annotations

import asyncio
from pathlib import Path

from grasp.environment import Episode
from grasp.report import write_report
from grasp.store import Database
from grasp.store.runs import RunStore
from grasp.usage import skill_usage

from .conftest import run_cli
from .improve.scripted_run import HELPFUL, run


def shown(skills: list[str], followed: str | None, passed: bool, error: str | None = None) -> Episode:
    return Episode(task_id="t", family="f", passed=passed, skills=skills, followed=followed, error=error)


def test_each_skill_is_counted_where_it_was_shown_and_followed() -> None:
    episodes = [shown(["a", "b"], "a", True), shown(["a", "b"], "a", False), shown(["a", "b"], "b", True),
                shown(["a"], None, False), shown(["a"], "a", True, error="model failed"), shown([], None, True)]
    a, b, never = skill_usage(episodes, ["a", "b", "never"])
    assert (a.shown, a.followed, a.passed_followed, a.unfollowed, a.passed_unfollowed) == (4, 2, 1, 2, 1)
    assert (b.shown, b.followed, b.passed_followed, b.unfollowed, b.passed_unfollowed) == (3, 1, 1, 2, 1)
    assert never.shown == 0 and never.line() == "never: shown 0, followed 0; passed 0/0 followed, 0/0 not"
    assert a.line() == "a: shown 4, followed 2 (50%); passed 1/2 followed, 1/2 not"
    assert [use.skill for use in skill_usage(episodes)] == ["a", "b"]  # without a list: every skill shown


def test_a_run_counts_its_final_skills_use_in_its_summary_report_and_library_show(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    result = asyncio.run(run(str(db), run_id="use"))
    assert HELPFUL in result.library.skills
    [use] = [use for use in result.usage if use.skill == HELPFUL]
    runs = RunStore(Database(db))
    showing = [e for e in runs.episodes("use") if HELPFUL in e.skills and e.error is None]
    assert use.shown == len(showing) > 0 and use.passed_followed + use.passed_unfollowed == sum(e.passed for e in showing)
    assert runs.get("use").summary["skill_usage"][0]["skill"] == min(result.library.skills)
    text = write_report(Database(db), "use", tmp_path / "use.html").read_text()
    assert "How each skill of the final library was used" in text and f"<td>{HELPFUL}</td><td>{use.shown}</td>" in text
    listed = run_cli("library", "show", result.library.library, db=db)
    assert listed.returncode == 0 and f"use in this library's runs: shown {use.shown}," in listed.stdout
