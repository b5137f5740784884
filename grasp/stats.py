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


# Two-sided 95% quantiles of Student's t, degrees of freedom 1 to 30 (the CI over a few seeds is a t-interval).
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
       2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)
Z975 = 1.959964


def t95(df: int) -> float:
    """The two-sided 95% t quantile for ``df`` degrees of freedom: the table to 30, then the Cornish-Fisher
    expansion around the normal quantile (within 0.001 of the exact value beyond 30; 1.96 would be 3% short
    at 30 degrees of freedom)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be at least 1, got {df}")
    if df <= len(T95):
        return T95[df - 1]
    z = Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


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
