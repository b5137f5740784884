"""Skill drafts in SKILL.md form: parsed by the Agent Skills reader, repaired once, refused by field."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from grasp.errors import ModelError, SkillFileError
from grasp.improve.drafts import Proposal, draft, parse_draft, render_draft
from grasp.models import ScriptedModel
from grasp.store import LibraryStore

from .scripted_run import DEFAULT_PROPOSALS, config, run

WRITE = ('---\naction: ADD\nname: record-a-reading\ndescription: Use when asked to record a reading: the value '
         'the task gives.\n---\n1. POST {base}Observation\n{"resourceType": "Observation", "status": "final", '
         '"valueQuantity": {"value": <VALUE>, "unit": "mmHg"}}\n2. FINISH([])\n')


def test_a_step_with_a_json_body_needs_no_escaping_and_a_colon_in_the_description_is_read_as_meant() -> None:
    proposal = parse_draft(WRITE)
    assert proposal.action == "ADD" and proposal.name == "record-a-reading"
    assert proposal.description == "Use when asked to record a reading: the value the task gives."
    assert '{"resourceType": "Observation", "status": "final"' in proposal.body
    assert parse_draft(render_draft(proposal)) == proposal
    assert parse_draft(f"Here is the skill:\n```markdown\n{WRITE}```") == proposal  # fenced, with chatter before


@pytest.mark.parametrize(("text", "field"), [
    ("1. GET Patient?name=<NAME>\n2. FINISH([<id>])", "(frontmatter)"),
    ("---\naction: ADD\nname: x\ndescription: Use when asked for a thing.\n", "(frontmatter)"),
    ("---\naction: RENAME\nname: x\ndescription: Use when asked for a thing.\n---\n1. GET Patient?x=1 and more", "action"),
    ("---\naction: ADD\ndescription: Use when asked for a thing.\n---\n1. GET Patient?x=1 and more", "name"),
    ("---\naction: ADD\nname: x\ndescription: short\n---\n1. GET Patient?x=1 and more", "description"),
    ("---\naction: ADD\nname: x\ndescription: Use when asked for a thing.\n---\n", "(body)"),
    ("---\naction: REPLACE\nname: x\ndescription: Use when asked for a thing.\n---\n1. GET Patient?x=1 and more", "target"),
])
def test_a_draft_that_is_not_a_skill_is_refused_naming_the_field(text: str, field: str) -> None:
    with pytest.raises(SkillFileError) as refused:
        parse_draft(text)
    assert refused.value.field == field and "\n" not in str(refused.value)


def test_a_malformed_draft_gets_one_repair_with_the_parsers_message_then_a_clear_error() -> None:
    proposer = ScriptedModel(["no frontmatter here", WRITE], name="scripted-drafter")
    proposal, calls = asyncio.run(draft(proposer, [{"role": "user", "content": "write"}], max_tokens=300,
                                        temperature=0.0, seed=0))
    assert proposal.name == "record-a-reading" and len(calls) == 2
    assert "field '(frontmatter)'" in proposer.calls[1][-1]["content"]
    with pytest.raises(ModelError, match=r"no valid SKILL.md draft after one repair: field 'action'"):
        asyncio.run(draft(ScriptedModel(["---\naction: GO\n---\nx"] * 2, name="scripted-drafter"),
                          [{"role": "user", "content": "write"}], max_tokens=300, temperature=0.0, seed=0))


def test_refused_drafts_commit_nothing_and_the_run_goes_on(tmp_path: Path) -> None:
    unknown = render_draft(Proposal(action="REMOVE", name="no-such-skill", description="Use for product questions.",
                                    body="1. Send CALC: <A> * <B>, then ANSWER: <VALUE>."))
    renamed = "---\naction: RENAME\nname: x\ndescription: Use for product questions.\n---\n1. CALC: <A> * <B>"
    broken = ["not a skill at all"] * 2 + [renamed] * 2 + [unknown]  # a draft that does not parse, and its repair
    result = asyncio.run(run(str(tmp_path / "g.db"), run_id="r1", proposals=[*broken, *DEFAULT_PROPOSALS],
                             cfg=config(candidates=1, epochs=2)))
    reasons = [d.evidence.reason for d in LibraryStore(tmp_path / "g.db").decisions("r1")]
    assert any("field '(frontmatter)'" in reason for reason in reasons)
    assert any("field 'target': REMOVE of unknown skill 'no-such-skill'" in reason for reason in reasons)
    assert any("field 'action'" in reason for reason in reasons)
    assert result.state.finished_training and result.state.test  # the run went on to its sealed test


def test_a_rewrite_of_a_skill_nobody_has_is_judged_as_the_new_skill_it_is() -> None:
    from grasp.improve.proposer import to_candidate
    from grasp.skills import Skill

    draft_text = render_draft(Proposal(action="MODIFY", name="latest-temp-checklist", description="Use for products.",
                                       body="1. CALC: <A> * <B>\n2. ANSWER: <VALUE>"))
    made = to_candidate(parse_draft(draft_text), library={}, capacity=4, family="product", forbidden=set(), group="g")
    assert made.edit.kind.value == "ADD" and made.edit.skill.name == "latest-temp-checklist"
    full = {f"s{i}": Skill(name=f"s{i}", description=f"Use for thing {i}.", body="1. x", tags=["sum"]) for i in range(4)}
    refused = to_candidate(parse_draft(draft_text), library=full, capacity=4, family="product", forbidden=set(),
                           group="g")
    assert refused.edit is None and "ADD at capacity (4)" in refused.refusal


def test_a_drafts_steps_end_at_its_closing_line_and_a_repeated_step_is_kept_once() -> None:
    text = ("---\naction: ADD\nname: elevation\ndescription: Use when asked for a station's elevation.\n---\n"
            "1. GET stations/<STATION>?units=imperial\n2. If elevation is null, FINISH([-1]).\n"
            "3. If elevation is null, FINISH([-1]).\n4. Otherwise FINISH([<value>]).\n---\n\n"
            "This skill is designed to help the agent avoid the mistake.")
    body = parse_draft(text).body
    assert body.splitlines() == ["1. GET stations/<STATION>?units=imperial", "2. If elevation is null, FINISH([-1]).",
                                 "3. Otherwise FINISH([<value>])."]
