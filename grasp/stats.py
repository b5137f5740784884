"""Paired comparisons: the same items under two conditions (no skills vs a library).

Two accuracies on the same items are not independent samples, so two
confidence intervals side by side say little. What tells is the discordant
items: how many the library fixed and how many it broke, and an exact
McNemar test on them (a two-sided binomial sign test on fixed vs broken).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from pydantic import BaseModel


class Paired(BaseModel):
    total: int
    before: int  # passed under the first condition
    after: int  # passed under the second
    fixed: int  # failed before, passed after
    broken: int  # passed before, failed after
    p_value: float  # exact two-sided McNemar on fixed vs broken

    @property
    def lift(self) -> float:
        return (self.after - self.before) / self.total if self.total else 0.0

    def one_line(self) -> str:
        if not self.total:
            return "no items"
        return (f"{self.before}/{self.total} ({self.before / self.total:.0%}) -> {self.after}/{self.total} "
                f"({self.after / self.total:.0%}), {self.lift:+.0%}: fixed {self.fixed}, broken {self.broken}, "
                f"exact McNemar p={self.p_value:.3g}")


def mcnemar_exact(fixed: int, broken: int) -> float:
    """Two-sided exact p-value that fixes and breaks are equally likely among discordant items."""
    n = fixed + broken
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(fixed, broken) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(before: Mapping[str, bool], after: Mapping[str, bool]) -> Paired:
    """Compare outcomes by item id; only items present under both conditions count."""
    items = sorted(set(before) & set(after))
    fixed = sum(1 for item in items if after[item] and not before[item])
    broken = sum(1 for item in items if before[item] and not after[item])
    return Paired(total=len(items), before=sum(before[i] for i in items), after=sum(after[i] for i in items),
                  fixed=fixed, broken=broken, p_value=mcnemar_exact(fixed, broken))
