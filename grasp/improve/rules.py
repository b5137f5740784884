"""Acceptance rules: what a candidate's paired probe tally must show for the edit to be committed.

Each rule is one object with one method, ``judge(tally) -> (accepted, reason)``; an ablation or a
competing method is another rule, chosen by name in the config (``gate.rule``), not another ``if``
in the loop. A rule that can tell early that no remaining probe outcome could make a candidate
acceptable also offers ``hopeless(baseline, finished)``, which the gate uses to stop probing (early
reject); a rule without it is always probed in full.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..config import GateConfig
from ..environment import Episode
from ..errors import ConfigError
from .gate import GateRule, Tally, accepts, cannot_accept


@runtime_checkable
class AcceptanceRule(Protocol):
    name: str
    budget: int  # the regression budget recorded with each decision (0 where the rule has none)
    invalid_penalty: float
    alpha: float | None

    def judge(self, tally: Tally) -> tuple[bool, str]:
        """Accept or refuse one candidate from its tally against the current library."""

    def probe_needed(self, candidates: int) -> bool:
        """Whether judging ``candidates`` valid candidates needs the probe at all."""


class Probed:
    """Every rule but no-gate needs the probe."""

    def probe_needed(self, candidates: int) -> bool:
        return True


class GraspGate(Probed):
    """GRASP's gate: score = fixes - regressions - lambda * invalid regressions must be above 0, with
    regressions within the budget (and, optionally, a one-sided sign test below alpha)."""

    name = "grasp"

    def __init__(self, budget: int = 0, invalid_penalty: float = 2.0, alpha: float | None = None) -> None:
        self.rule = GateRule(budget=budget, invalid_penalty=invalid_penalty, alpha=alpha)
        self.budget, self.invalid_penalty, self.alpha = budget, invalid_penalty, alpha

    def judge(self, tally: Tally) -> tuple[bool, str]:
        return accepts(tally, self.rule)

    def hopeless(self, baseline: Sequence[Episode], finished: dict[int, Episode]) -> bool:
        return cannot_accept(baseline, finished, self.rule)


class AcceptAll:
    """No gate (the paper's ablation): the best-scoring candidate is committed whatever it does."""

    name = "accept-all"
    budget, invalid_penalty, alpha = 0, 0.0, None

    def judge(self, tally: Tally) -> tuple[bool, str]:
        return True, f"ungated: accepted with fixes {tally.fixes}, regressions {tally.regressions}"

    def probe_needed(self, candidates: int) -> bool:
        return candidates > 1  # the probe only picks the best of several; one candidate is committed as is


class StrictImprovement(Probed):
    """SkillOpt's rule: held-out accuracy must strictly improve (fixes > regressions); a tie is refused."""

    name = "strict"
    budget, invalid_penalty, alpha = 0, 0.0, None

    def judge(self, tally: Tally) -> tuple[bool, str]:
        if tally.fixes > tally.regressions:
            return True, f"held-out accuracy improves: fixes {tally.fixes} > regressions {tally.regressions}"
        return False, f"no strict improvement: fixes {tally.fixes}, regressions {tally.regressions}"

    def hopeless(self, baseline: Sequence[Episode], finished: dict[int, Episode]) -> bool:
        return cannot_accept(baseline, finished, GateRule(budget=len(baseline), invalid_penalty=0.0))


class PairedDelta(Probed):
    """cap-evolve's rule: the mean paired change over probe items must exceed k standard errors."""

    name = "paired-se"
    budget, invalid_penalty, alpha = 0, 0.0, None

    def __init__(self, k: float = 1.0) -> None:
        self.k = k

    def judge(self, tally: Tally) -> tuple[bool, str]:
        deltas = [int(bool(i.after)) - int(i.before) for i in tally.items if i.after is not None]
        if len(deltas) < 2:
            return False, "too few probe items for a standard error"
        mean = sum(deltas) / len(deltas)
        variance = sum((d - mean) ** 2 for d in deltas) / (len(deltas) - 1)
        se = math.sqrt(variance / len(deltas))
        verdict = mean > self.k * se and mean > 0
        return verdict, f"mean paired change {mean:+.3f} {'>' if verdict else '<='} {self.k:g} x SE {se:.3f}"


RULES = ("grasp", "accept-all", "strict", "paired-se")


def rule_from(config: GateConfig) -> AcceptanceRule:
    """The rule ``config.rule`` names, with its settings."""
    if config.rule == "grasp":
        return GraspGate(config.regression_budget, config.invalid_penalty, config.alpha)
    if config.rule == "accept-all":
        return AcceptAll()
    if config.rule == "strict":
        return StrictImprovement()
    if config.rule == "paired-se":
        return PairedDelta(config.k)
    raise ConfigError(f"gate.rule {config.rule!r} is not one of {', '.join(RULES)}")
