"""A self-contained HTML report of an improve run: one file, no scripts, no external assets."""

from __future__ import annotations

import html
from collections import defaultdict
from pathlib import Path

from .diff import diff_versions
from .evaluate import wilson
from .store import Database, LibraryStore
from .store.runs import RunStore

STYLE = """body{font:14px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}pre{background:#f7f7f7;padding:8px;overflow-x:auto;font-size:12px}
.ok{color:#176117}.no{color:#a11}.add{color:#176117}.del{color:#a11}h2{border-bottom:1px solid #ddd}"""


def _e(value: object) -> str:
    return html.escape(str(value))


def _table(head: list[str], rows: list[list[object]]) -> str:
    header = "".join(f"<th>{_e(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{header}</tr>{body}</table>"


def write_report(db: Database, run_id: str, target: Path) -> Path:
    runs, libraries = RunStore(db), LibraryStore(db)
    info = runs.get(run_id)
    state = info.state or {}
    library = info.library or run_id
    parts = [f"<h1>grasp run {_e(run_id)}</h1>",
             f"<p>environment <b>{_e(info.environment)}</b>, manifest <code>{_e(info.manifest_hash)}</code>, "
             f"status <b>{_e(info.status)}</b>, library <b>{_e(library)}</b></p>"]

    test = state.get("test") or {}
    if test:
        rows = []
        for name, key in (("no skills", "no_skills"), ("final library", "final")):
            part = test[key]
            low, high = part["ci95"]
            rows.append([name, f"{part['passed']}/{part['total']}", f"{part['accuracy']:.1%}", f"{low:.1%} – {high:.1%}"])
        parts += ["<h2>Sealed test (read once)</h2>", _table(["library", "passed", "accuracy", "95% CI (Wilson)"], rows)]

    val = state.get("val") or []
    dev = state.get("dev_accuracy") or []
    parts += ["<h2>Validation per epoch</h2>",
              _table(["epoch", "library version", "val accuracy", "95% CI"],
                     [[p["epoch"], p["version"], f"{p['accuracy']:.1%} ({p['passed']}/{p['total']})",
                       "%.0f%% – %.0f%%" % tuple(100 * x for x in wilson(p["passed"], p["total"]))] for p in val]),
              f"<p>checkpoint (best val): version {_e(state.get('checkpoint'))}</p>",
              "<h2>Dev batches</h2>", _table(["batch", "dev accuracy"], [[i, f"{a:.0%}"] for i, a in enumerate(dev)])]

    families: dict[str, dict[str, list[int]]] = defaultdict(lambda: {"none": [0, 0], "final": [0, 0]})
    for phase_key, slot in (("test:none", "none"), ("test:final", "final")):
        for episode in runs.episodes(run_id, phase="test", key_prefix=phase_key):
            families[episode.family][slot][0] += int(episode.passed)
            families[episode.family][slot][1] += 1
    if families:
        parts += ["<h2>Sealed test per task family</h2>",
                  _table(["family", "no skills", "final"],
                         [[_e(f), f"{v['none'][0]}/{v['none'][1]}", f"{v['final'][0]}/{v['final'][1]}"]
                          for f, v in sorted(families.items())])]

    parts.append("<h2>Decisions</h2>")
    versions = {v.number: v for v in libraries.versions(library)}
    for decision in libraries.decisions(library, run_id=run_id):
        evidence = decision.evidence
        verdict = "<span class=ok>accepted</span>" if evidence.accepted else "<span class=no>refused</span>"
        what = decision.edit.summary() if decision.edit else "(invalid proposal)"
        parts.append(f"<h3>{verdict} {_e(what)} — batch {_e(evidence.extra.get('decision', ''))}</h3>")
        parts.append(f"<p>{_e(evidence.one_line())}; probe episodes run {evidence.episodes_run}, "
                     f"saved by early reject {evidence.episodes_saved}</p>")
        if evidence.items:
            parts.append(_table(["probe item", "family", "before", "after"],
                                [[_e(i.task_id), _e(i.family), "pass" if i.before else "fail",
                                  "-" if i.after is None else ("pass" if i.after else "fail")] for i in evidence.items]))
        if decision.result_version is not None and decision.result_version in versions:
            new = versions[decision.result_version]
            old = versions[decision.base_version]
            lines = diff_versions(old, new)
            parts.append("<pre>" + "\n".join(
                f"<span class={'add' if l.startswith('+') else 'del' if l.startswith('-') else 'x'}>{_e(l)}</span>"
                for l in lines) + "</pre>")
        elif decision.edit and decision.edit.skill:
            parts.append(f"<pre>{_e(decision.edit.skill.to_markdown())}</pre>")

    usage = runs.usage(run_id)
    parts += ["<h2>Tokens</h2>", _table(
        ["role", "model", "calls", "cached", "prompt tokens", "completion tokens", "model seconds"],
        [[_e(u.role), _e(u.model), u.calls, u.cached_calls, u.prompt_tokens, u.completion_tokens, f"{u.seconds:.0f}"]
         for u in usage])]
    summary = info.summary or {}
    parts.append(f"<p>gate episodes {summary.get('gate_episodes', 0)}, saved by early reject "
                 f"{summary.get('gate_episodes_saved', 0)}; accepted {summary.get('accepted', 0)}, "
                 f"refused {summary.get('refused', 0)}</p>")
    notes = state.get("notes") or []
    if notes:
        parts += ["<h2>Notes</h2><ul>"] + [f"<li>{_e(n)}</li>" for n in notes] + ["</ul>"]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"<!doctype html><meta charset=utf-8><title>grasp {_e(run_id)}</title><style>{STYLE}</style>"
                      + "\n".join(parts), encoding="utf-8")
    return target
