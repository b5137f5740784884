"""The acceptance gate: score a candidate library against the baseline on the probe.

score = fixes - regressions - lambda * invalid-action regressions. An item
that errored at baseline counts for neither side, whatever the candidate does,
so a no-op edit scores exactly 0 (the paper's code gave every candidate +1 for
a baseline error). An item that errors only under the candidate is a failure
of the candidate: a regression when it passed at baseline (a skill that
overflows the context or makes a request crash is not harmless). Early reject stops a candidate's probe once acceptance is impossible;
it never changes a decision, only saves episodes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from pydantic import BaseModel

from ..edits import ProbeOutcome
from ..environment import Episode


class GateRule(BaseModel):
    budget: int = 0  # most regressions an accepted edit may cause
    invalid_penalty: float = 2.0  # lambda
    alpha: float | None = None  # paired exact (sign) test on discordant items; None: off


class Tally(BaseModel):
    items: list[ProbeOutcome]
    fixes: int
    regressions: int
    invalid_regressions: int
    score: float
    p_value: float | None
    run: int
    skipped: int


def outcome(baseline: Episode, candidate: Episode | None) -> ProbeOutcome:
    if candidate is None or baseline.error:
        after = None  # not run, or unknowable: an error at baseline is neutral under both runs
    else:
        after = False if candidate.error else candidate.passed
    return ProbeOutcome(
        task_id=baseline.task_id, family=baseline.family, before=baseline.passed, after=after,
        before_invalid=baseline.invalid, after_invalid=bool(candidate and candidate.invalid),
        after_error=bool(candidate and candidate.error and not baseline.error),
    )


def tally(baseline: Sequence[Episode], candidate: Sequence[Episode | None], rule: GateRule) -> Tally:
    items = [outcome(b, c) for b, c in zip(baseline, candidate, strict=True)]
    fixes = sum(item.fixed for item in items)
    regressions = sum(item.regressed for item in items)
    invalid = sum(1 for item in items if item.after is not None and item.after_invalid and not item.before_invalid)
    p_value = sign_test(fixes, regressions) if rule.alpha is not None else None
    return Tally(
        items=items, fixes=fixes, regressions=regressions, invalid_regressions=invalid,
        score=fixes - regressions - rule.invalid_penalty * invalid, p_value=p_value,
        run=sum(c is not None for c in candidate), skipped=sum(c is None for c in candidate),
    )


def accepts(result: Tally, rule: GateRule) -> tuple[bool, str]:
    if result.regressions > rule.budget:
        return False, f"{result.regressions} regression(s) exceed the budget of {rule.budget}"
    if result.score <= 0:
        return False, f"score {result.score:g} is not above 0"
    if rule.alpha is not None and (result.p_value is None or result.p_value >= rule.alpha):
        return False, f"sign test p={result.p_value:.3g} is not below alpha={rule.alpha}"
    return True, f"fixes {result.fixes}, regressions {result.regressions}, score {result.score:g}"


def cannot_accept(baseline: Sequence[Episode], finished: dict[int, Episode], rule: GateRule) -> bool:
    """True once no outcome of the items still to run could make the candidate acceptable."""
    score, regressions, still_fixable = 0.0, 0, 0
    for index, base in enumerate(baseline):
        if index not in finished:
            still_fixable += int(not base.passed and base.error is None)
            continue
        item = outcome(base, finished[index])
        if item.after is None:
            continue
        score += int(item.fixed) - int(item.regressed)
        score -= rule.invalid_penalty * int(item.after_invalid and not item.before_invalid)
        regressions += int(item.regressed)
    return regressions > rule.budget or score + still_fixable <= 0


def sign_test(fixes: int, regressions: int) -> float:
    """One-sided exact binomial test that fixes outnumber regressions among discordant items."""
    n = fixes + regressions
    if n == 0:
        return 1.0
    return sum(math.comb(n, k) for k in range(fixes, n + 1)) / 2**n
