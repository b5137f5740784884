"""A self-contained HTML report of an improve run: one file, no scripts, no external assets.

The page is a jinja2 template (``grasp/templates/report.html.j2``, autoescaped) filled from the
run's stored state, decisions and episodes; its two charts are matplotlib SVGs inlined in the page.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from .charts import family_bars, learning_curve
from .diff import diff_versions
from .estimate import Estimate
from .evaluate import wilson
from .improve.counters import run_counts
from .stats import Paired
from .store import Database, LibraryStore
from .store.runs import RunStore
from .usage import SkillUse
from .yardsticks import sealed_lines

TEMPLATES = Environment(loader=PackageLoader("grasp", "templates"), autoescape=select_autoescape(["html", "j2"]))


def _outcome(value: bool | None) -> str:
    return "-" if value is None else "pass" if value else "fail"


def _decisions(libraries: LibraryStore, library: str, run_id: str) -> list[dict[str, Any]]:
    versions = {v.number: v for v in libraries.versions(library)}
    rows = []
    for decision in libraries.decisions(library, run_id=run_id):
        evidence = decision.evidence
        diff = []
        if decision.result_version in versions and decision.base_version in versions:
            for line in diff_versions(versions[decision.base_version], versions[decision.result_version]):
                diff.append({"kind": "add" if line.startswith("+") else "del" if line.startswith("-") else "x",
                             "text": line})
        rows.append({
            "accepted": evidence.accepted, "origin": decision.origin,
            "what": decision.edit.summary() if decision.edit else "(invalid proposal)",
            "batch": evidence.extra.get("decision", ""), "summary": evidence.one_line(),
            "episodes_run": evidence.episodes_run, "episodes_saved": evidence.episodes_saved,
            "probe_items": [{"task_id": i.task_id, "family": i.family, "before": _outcome(i.before),
                       "after": _outcome(i.after) + (" (errored)" if i.after_error else "")} for i in evidence.items],
            "diff": diff,
            "skill": decision.edit.skill.to_markdown() if decision.edit and decision.edit.skill and not diff else "",
        })
    return rows


def _families(runs: RunStore, run_id: str) -> list[dict[str, Any]]:
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"none": [0, 0], "final": [0, 0]})
    for prefix, slot in (("test:none", "none"), ("test:final", "final")):
        for episode in runs.episodes(run_id, phase="test", key_prefix=prefix):
            counts[episode.family][slot][0] += int(episode.passed)
            counts[episode.family][slot][1] += 1
    for value in counts.values():
        if not value["final"][1]:  # the final library was the no-skill one: the same episodes
            value["final"] = list(value["none"])
    return [{"name": name, "none_passed": v["none"][0], "none_total": v["none"][1],
             "final_passed": v["final"][0], "final_total": v["final"][1]} for name, v in sorted(counts.items())]


def _followed(runs: RunStore, run_id: str) -> list[dict[str, Any]]:
    """Which injected skill each final-library test episode followed, by family: a family whose episodes
    follow another family's skill (or none) shows where selection, not the skill, failed."""
    counts: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    for episode in runs.episodes(run_id, phase="test", key_prefix="test:final:"):
        cell = counts[(episode.family, episode.followed or "(none)")]
        cell[0] += int(episode.passed)
        cell[1] += 1
    return [{"family": family, "skill": skill, "passed": passed, "total": total}
            for (family, skill), (passed, total) in sorted(counts.items())]


def _strata_rows(test: dict[str, Any]) -> list[dict[str, str]]:
    """Per stratum (and overall): trivial answer, no skills, final library, reference library."""
    if not test.get("trivial"):
        return []
    columns = {"trivial": test["trivial"]["strata"], "no skills": test.get("no_skills_strata") or {},
               "final": test.get("final_strata") or {}, "reference": (test.get("reference") or {}).get("strata") or {}}
    names = sorted({name for column in columns.values() for name in column})
    rows = []
    for name in names:
        cells = {label: (f"{column[name][0]}/{column[name][1]}" if name in column else "-")
                 for label, column in columns.items()}
        rows.append({"stratum": name, **cells})
    return rows


def write_report(db: Database, run_id: str, target: Path) -> Path:
    runs, libraries = RunStore(db), LibraryStore(db)
    info = runs.get(run_id)
    state = info.state or {}
    library = info.library or run_id
    test = state.get("test") or {}
    test_rows = []
    for name, key in (("no skills", "no_skills"), ("final library", "final")):
        if key in test:
            part = test[key]
            test_rows.append({"name": name, **part, "low": part["ci95"][0], "high": part["ci95"][1]})
    strata_rows = _strata_rows(test)
    val = [{**point, **dict(zip(("low", "high"), wilson(point["passed"], point["total"]), strict=True))}
           for point in state.get("val") or []]
    families = _families(runs, run_id)
    curve = learning_curve([p["epoch"] for p in val], [p["accuracy"] for p in val],
                           baseline=val[0]["accuracy"] if val else None) if val else ""
    bars = family_bars([f["name"] for f in families],
                       [f["none_passed"] / max(1, f["none_total"]) for f in families],
                       [f["final_passed"] / max(1, f["final_total"]) for f in families]) if families else ""
    page = TEMPLATES.get_template("report.html.j2").render(
        run=info, library=library, test=test, test_rows=test_rows, strata_rows=strata_rows,
        yardsticks=sealed_lines(test) if test else [], followed=_followed(runs, run_id),
        skill_usage=[SkillUse.model_validate(use) for use in (info.summary or {}).get("skill_usage") or []],
        paired=Paired.model_validate(test["paired"]) if test.get("paired") else None,
        val=val, checkpoint=state.get("checkpoint"), dev=state.get("dev_accuracy") or [], families=families,
        decisions=_decisions(libraries, library, run_id), counts=run_counts(libraries, runs, run_id, library),
        estimate=Estimate.model_validate(state["estimate"]) if state.get("estimate") else None,
        spent_episodes=runs.count_episodes(run_id),
        usage=runs.usage(run_id), notes=state.get("notes") or [], curve_svg=curve, family_svg=bars,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target
