"""The gate's arithmetic: scoring, budget, errors treated alike, early reject, probe sampling."""

from __future__ import annotations

import itertools

from grasp.environment import Episode
from grasp.improve.gate import GateRule, accepts, cannot_accept, sign_test, tally
from grasp.improve.probe import sample_probe
from grasp.tasks import Task


def ep(task: str, passed: bool, *, invalid: bool = False, error: str | None = None) -> Episode:
    return Episode(task_id=task, family="f", passed=passed, invalid_actions=int(invalid), error=error)


RULE = GateRule(budget=0, invalid_penalty=2)


def test_score_is_fixes_minus_regressions_minus_lambda_invalid() -> None:
    base = [ep("a", False), ep("b", False), ep("c", True), ep("d", True)]
    cand = [ep("a", True), ep("b", True), ep("c", False, invalid=True), ep("d", True)]
    result = tally(base, cand, RULE)
    assert (result.fixes, result.regressions, result.invalid_regressions, result.score) == (2, 1, 1, -1)
    assert accepts(result, RULE) == (False, "1 regression(s) exceed the budget of 0")
    lenient = GateRule(budget=1, invalid_penalty=0)
    assert accepts(tally(base, cand, lenient), lenient)[0] is True


def test_an_errored_episode_counts_for_neither_side_so_a_no_op_scores_zero() -> None:
    base = [ep("a", False, error="timeout"), ep("b", True), ep("c", False)]
    same = [ep("a", True), ep("b", True), ep("c", False)]  # the no-op edit: only the errored item differs
    result = tally(base, same, RULE)
    assert result.score == 0 and result.fixes == 0
    assert accepts(result, RULE) == (False, "score 0 is not above 0")


def test_regressions_over_budget_refuse_even_with_a_high_score() -> None:
    base = [ep(str(i), i < 2) for i in range(8)]
    cand = [ep(str(i), i >= 1) for i in range(8)]
    result = tally(base, cand, GateRule(budget=0))
    assert result.score == 5 and not accepts(result, GateRule(budget=0))[0]
    assert accepts(result, GateRule(budget=1))[0]


def test_sign_test_gates_when_alpha_is_set() -> None:
    assert sign_test(3, 0) == 0.125 and sign_test(0, 0) == 1.0
    base = [ep(str(i), False) for i in range(3)]
    result = tally(base, [ep(str(i), True) for i in range(3)], GateRule(alpha=0.05))
    assert result.p_value == 0.125 and not accepts(result, GateRule(alpha=0.05))[0]


def test_early_reject_fires_only_when_acceptance_is_impossible() -> None:
    """Exhaustively: whenever cannot_accept says stop, no completion of the remaining items is accepted."""
    for before in itertools.product([False, True], repeat=4):
        base = [ep(str(i), b) for i, b in enumerate(before)]
        for after in itertools.product([False, True], repeat=4):
            for done in range(5):
                finished = {i: ep(str(i), after[i]) for i in range(done)}
                if cannot_accept(base, finished, RULE):
                    for rest in itertools.product([False, True], repeat=4 - done):
                        full = list(after[:done]) + list(rest)
                        assert not accepts(tally(base, [ep(str(i), a) for i, a in enumerate(full)], RULE), RULE)[0]


def tasks(prefix: str, families: str, count: int) -> list[Task]:
    return [Task(id=f"{prefix}{i:02d}", family=families[i % len(families)], instruction="x") for i in range(count)]


def test_probe_is_balanced_stratified_and_outside_the_batch() -> None:
    failing, passing = tasks("f", "abc", 12), tasks("p", "abc", 12)
    batch = {t.id for t in failing[:4] + passing[:4]}
    probe = sample_probe([(t, False) for t in failing] + [(t, True) for t in passing], size=6, exclude=batch, seed="s")
    assert not batch & {t.id for t in probe}
    assert sum(t.id.startswith("f") for t in probe) == 3
    assert {t.family for t in probe if t.id.startswith("f")} == {"a", "b", "c"}
    again = sample_probe([(t, True) for t in passing] + [(t, False) for t in failing], size=6, exclude=batch, seed="s")
    assert [t.id for t in again] == [t.id for t in probe]  # input order does not matter


def test_the_failing_side_comes_from_the_candidates_families_first() -> None:
    # Family "a" fails on 2 items only, "b" and "c" on 5 each: unfocused, "a" may get no turn at all.
    failing = tasks("fa", "a", 2) + tasks("fb", "b", 5) + tasks("fc", "c", 5)
    passing = tasks("p", "abc", 9)
    pairs = [(t, False) for t in failing] + [(t, True) for t in passing]
    probe = sample_probe(pairs, size=6, exclude=set(), seed="s", focus=frozenset({"a"}))
    shown = [t for t in probe if t.id.startswith("f")]
    assert len(shown) == 3 and sum(t.family == "a" for t in shown) == 2  # both of "a", then one other
    assert sum(t.id.startswith("p") for t in probe) == 3  # the passing side keeps its half
    wide = sample_probe(pairs, size=6, exclude={"fa00"}, seed="s", focus=frozenset({"a", "b"}))
    assert {t.family for t in wide if t.id.startswith("f")} <= {"a", "b"} and "fa01" in {t.id for t in wide}
