"""A proposal's values: what the mask turns into placeholders, and what is still a leak after it."""

from __future__ import annotations

from pathlib import Path

from environments.arithmetic import ArithmeticEnvironment
from grasp.improve.drafts import parse_draft
from grasp.improve.proposer import leaked_values, masker, to_candidate

from .scripted_run import proposal


def test_placeholders_in_a_proposal_are_kept_and_copied_values_are_abstracted(tmp_path: Path) -> None:
    """A proposer that copies the task's operands gets them rewritten to placeholders, not refused."""
    environment = ArithmeticEnvironment(seed=2, per_split=18)
    dev = environment.tasks("dev")
    product = next(t for t in dev if t.family == "product" and t.variables["A"] != t.variables["B"])
    copied = proposal("calc-first", "Use for products: compute first.",
                      f"Reply CALC: {product.variables['A']} * {product.variables['B']} first, then ANSWER.")
    candidate = to_candidate(parse_draft(copied), library={}, capacity=4, family="product",
                             forbidden=environment.forbidden_values(product), group="g",
                             mask=masker(environment, [product]))
    assert candidate.edit is not None and "CALC: <A> * <B>" in candidate.edit.skill.body


def test_a_word_that_merely_contains_a_task_value_is_no_leak_but_the_value_itself_is() -> None:
    """The A1C task's code "A1C" sits inside its own wording "HbA1C": a draft that names the lab keeps it,
    a draft that copies an answer or a record's id is refused."""
    forbidden = {"A1C", "8.3", "S2641846"}
    assert leaked_values(forbidden, "Use when asked for the last HbA1C value; search code=<CODE>.") == []
    assert leaked_values(forbidden, "GET Observation?patient=S2641846&code=A1C") == ["A1C", "S2641846"]
    assert leaked_values(forbidden, "answer 8.35 or 18.3") == []
    named = to_candidate(parse_draft(proposal("last-hba1c", "Use when asked for the last HbA1C value.",
                                              "1. GET Observation?patient=<MRN>&code=<CODE>&_sort=-date&_count=1")),
                         library={}, capacity=4, family="a1c", forbidden=forbidden, group="g")
    assert named.edit is not None and "HbA1C" in named.edit.skill.description
    copied = to_candidate(parse_draft(proposal("last-hba1c", "Use when asked for the last HbA1C value.",
                                               "1. GET Observation?patient=<MRN>\n2. FINISH([8.3])")),
                          library={}, capacity=4, family="a1c", forbidden=forbidden, group="g")
    assert copied.edit is None and "leaks task values ['8.3']" in (copied.refusal or "")
