"""A drafted skill whose write body the server would refuse goes back to the proposer with the server's
field-level words, and is never committed (issue 26: writes in the linter, end to end through the loop)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from environments.fhir.environment import FhirEnvironment
from grasp.config import RunConfig
from grasp.improve import improve
from grasp.improve.drafts import Proposal, render_draft
from grasp.models import ScriptedModel
from grasp.store import LibraryStore

from .test_families import BP_BODY

LIST_CATEGORY = BP_BODY
OBJECT_CATEGORY = BP_BODY.replace('"category": [{', '"category": {').replace('}]}], "code"', '}]}, "code"')
SERVER_WORDS = "category: Input should be a valid list"


def draft(body: str) -> str:
    return render_draft(Proposal(action="ADD", name="record-blood-pressure",
                                 description="Use when asked to record a blood pressure reading in the chart.",
                                 body=f"1. POST Observation\n{body}\n2. FINISH([])"))


def follow_or_guess(messages: list[dict[str, str]]) -> str:
    """A scripted executor: after a 201 it finishes; otherwise it writes the Observation, with valueString
    when a skill in its prompt says so and valueQuantity when not (what the embedded model writes unaided)."""
    if messages[-1]["content"].startswith("HTTP 201"):
        return "FINISH([])"
    prompt = "\n".join(m["content"] for m in messages)
    mrn = re.search(r"patient (S\d+)", prompt).group(1)
    reading = re.search(r": (\d+/\d+ mmHg)", prompt).group(1)
    skill_body = re.search(r'\{"resourceType": "Observation".*\}', prompt)
    if skill_body:
        body = skill_body.group(0).replace("<MRN>", mrn).replace("<NOW>", "2024-03-15T09:30:00").replace(
            "<READING>", reading)
    else:
        body = json.dumps({"resourceType": "Observation", "status": "final", "code": {"text": "BP"},
                           "subject": {"reference": f"Patient/{mrn}"},
                           "valueQuantity": {"value": int(reading.split("/")[0]), "unit": "mmHg"}})
    return f"POST Observation\n{body}"


def test_a_malformed_write_body_is_sent_back_with_the_servers_field_and_never_committed(
        env: FhirEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRASP_CACHE_DIR", str(tmp_path / "cache"))
    proposer_prompts: list[str] = []

    def propose(messages: list[dict[str, str]]) -> str:
        proposer_prompts.append(messages[-1]["content"])
        # the first draft puts an object where FHIR wants a list; the rewrite follows the server's words
        return draft(LIST_CATEGORY if SERVER_WORDS in messages[-1]["content"] else OBJECT_CATEGORY)

    config = RunConfig(environment="fhir", seed=0, families=["record_bp"], limits={"dev": 6, "val": 0, "test": 2},
                       max_rounds=2, batch_size=4, probe_size=2,
                       advanced={"reference": False, "sealed_world": 31, "gate": {"probe_pool": 2},
                                 "loop": {"sources": ["proposer"], "trial": False, "refinements": 1}})
    db = tmp_path / "writes.db"
    result = asyncio.run(improve(env, ScriptedModel(follow_or_guess, name="scripted-follower"), config, db=db,
                                 proposer=ScriptedModel(propose, name="scripted-draft")))

    assert len(proposer_prompts) == 2 and SERVER_WORDS in proposer_prompts[1]  # the rewrite request carried the server's field
    decisions = LibraryStore(db).decisions(result.run_id)
    committed = [d.edit.skill.body for d in decisions if d.evidence.accepted and d.edit and d.edit.skill]
    assert committed and all('"category": [' in body for body in committed)  # the rewritten body, never the first
    assert not any('"category": {' in body for body in committed)
