"""grasp-bare: the same loop with FHIR's hand-written help to the learner off."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from environments.fhir.environment import BRIEF, FhirEnvironment
from grasp.config import RunConfig
from grasp.environment import Hints, ProposerBrief
from grasp.improve import improve
from grasp.improve.drafts import Proposal, render_draft
from grasp.improve.methods import method_config
from grasp.models import ScriptedModel
from grasp.store import LibraryStore

DRAFT = render_draft(Proposal(action="ADD", name="latest-glucose", description="Use when asked for the latest glucose value.",
                              body="1. GET Observation?patient=<MRN>&code=<CODE>&count=1\n2. FINISH([<value>])"))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("GRASP_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_the_generic_hints_help_with_nothing_and_fhirs_name_what_its_server_rejects(env: FhirEnvironment) -> None:
    bare, fhir = Hints(), env.hints()
    rejected = "GET Observation?patient=<MRN>&count=1"
    assert fhir.check_skill(rejected) is not None and bare.check_skill(rejected) is None
    assert bare.mend_skill(rejected) == rejected != fhir.mend_skill(rejected)
    assert bare.proposer_brief() == ProposerBrief() and bare.variable_notes() == {}
    assert fhir.proposer_brief() == BRIEF and fhir.variable_notes()


def test_grasp_bare_is_the_grasp_config_with_the_help_off() -> None:
    base = RunConfig(environment="fhir", advanced={"loop": {"candidates": 2}})
    bare, grasp = method_config(base, "grasp-bare", seed=4, library="x"), method_config(base, "grasp", seed=4, library="x")
    assert bare.advanced.environment_help is False and grasp.advanced.environment_help
    differ = {"method": True, "advanced": {"environment_help"}}
    assert bare.model_dump(exclude=differ) == grasp.model_dump(exclude=differ)


def learned_text(env: FhirEnvironment, tmp_path: Path, *, help_on: bool) -> tuple[str, list[str]]:
    """The skill text a run stored from the same scripted draft, and the proposer prompts it sent."""
    prompts: list[str] = []

    def propose(messages: list[dict[str, str]]) -> str:
        prompts.append(messages[-1]["content"])
        return DRAFT

    def finish_none(messages: list[dict[str, str]]) -> str:
        return 'FINISH(["Patient not found"])' if "MRN of the patient" in messages[1]["content"] else "FINISH([-1])"

    config = RunConfig(environment="fhir", seed=0, families=["latest_glucose"], limits={"dev": 8, "val": 0, "test": 2},
                       max_rounds=2, probe_size=2,
                       advanced={"environment_help": help_on, "reference": False, "sealed_world": 31,
                                 "loop": {"sources": ["proposer"], "trial": False, "refinements": 0},
                                 "gate": {"probe_pool": 0}})
    result = asyncio.run(improve(env, ScriptedModel(finish_none, name="scripted-none"), config,
                                 db=tmp_path / f"help-{help_on}.db", proposer=ScriptedModel(propose, name="scripted-draft")))
    decisions = LibraryStore(tmp_path / f"help-{help_on}.db").decisions(result.run_id)
    return next(d.edit.skill.body for d in decisions if d.edit and d.edit.skill), prompts


def test_a_bare_run_gets_the_generic_brief_and_keeps_the_draft_as_written(env: FhirEnvironment, cache: Path,
                                                                           tmp_path: Path) -> None:
    helped, helped_prompts = learned_text(env, tmp_path, help_on=True)
    bare, bare_prompts = learned_text(env, tmp_path, help_on=False)
    assert "_count=1" in helped and "Placeholders: <MRN> = the patient's MRN" in helped
    assert "&count=1" in bare and "Placeholders:" not in bare
    assert all(BRIEF.example in prompt for prompt in helped_prompts)
    assert bare_prompts and all(ProposerBrief().example in p and BRIEF.example not in p for p in bare_prompts)
