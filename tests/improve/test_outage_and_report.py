"""A model outage pauses a run that resumes cleanly; the HTML report holds the evidence."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path

import pytest

from environments.arithmetic import ArithmeticEnvironment
from grasp.models import ModelUnavailable, ScriptedModel
from grasp.improve import improve
from grasp.report import write_report
from grasp.yardsticks import sealed_lines
from grasp.store import Database
from grasp.store.runs import RunStore

from .scripted_run import DEFAULT_PROPOSALS, config, executor, proposer, run


def test_an_outage_interrupts_and_the_run_resumes_to_the_same_library(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    healthy = executor()
    calls = {"n": 0}

    async def flaky(messages):
        calls["n"] += 1
        if calls["n"] == 25:
            raise ModelUnavailable("endpoint down after every retry")
        return (await healthy.chat(messages)).text

    environment = ArithmeticEnvironment(seed=1, per_split=18)
    with pytest.raises(ModelUnavailable):
        same_name = ScriptedModel(flaky, name=healthy.id.removeprefix("scripted:"))  # a resume checks the model
        asyncio.run(improve(environment, same_name, config(epochs=2), db=db,
                            proposer=proposer(DEFAULT_PROPOSALS), run_id="r1"))
    assert RunStore(Database(db)).get("r1").status == "interrupted"
    resumed = asyncio.run(run(str(db), resume="r1"))
    reference = asyncio.run(run(str(tmp_path / "ref.db"), run_id="r1"))
    assert resumed.library.content_hash == reference.library.content_hash
    assert RunStore(Database(db)).get("r1").status == "finished"


def test_report_shows_test_results_decisions_and_tokens(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    asyncio.run(run(str(db), run_id="rep"))
    target = write_report(Database(db), "rep", tmp_path / "out" / "rep.html")
    text = target.read_text()
    for fragment in ("Sealed test", "95% CI", "compute-first", "accepted", "refused", "Tokens", "executor",
                     "Validation per epoch", "<pre>"):
        assert fragment in text, fragment
    assert "<script" not in text and not re.search(r"(src|href)=[\"']?https?:", text)  # self-contained
    assert text.count("<svg") == 2  # the learning curve and the per-family bars
    runs = RunStore(Database(db))
    first_line = next(line for line in sealed_lines(runs.get("rep").state["test"]))
    assert first_line.startswith("sealed test: ") and html.escape(first_line, quote=False) in text


def test_a_report_of_a_run_with_no_val_items_says_why_it_has_no_validation_table(tmp_path: Path) -> None:
    db = tmp_path / "g.db"
    no_val = config(candidates=1, epochs=1).model_copy(update={"limits": {"val": 0}})
    asyncio.run(run(str(db), run_id="noval", cfg=no_val))
    text = write_report(Database(db), "noval", tmp_path / "noval.html").read_text()
    section = text.split("Validation per epoch</h2>")[1].split("<h2>")[0]
    assert "<table>" not in section and "the run had no val items" in section
