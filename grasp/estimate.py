"""What a run will cost, said before it starts: episodes by phase, model calls and tokens by role, time and money.

Every figure is an upper bound read from the config and the environment's sizes (how many dev and sealed items
the run draws): a decision can stop early (an early reject, a family with no failure), never run longer. What
an episode costs in tokens and seconds is read from this database's earlier runs on the same environment where
there are any (the measured basis), else from the prompt's length (a rough basis, said as such).
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel

from .config import RunConfig
from .costs import role_prices
from .environment import Environment
from .store.runs import RunStore
from .tasks import Task


class Estimate(BaseModel):
    episodes: dict[str, int]  # by phase, at most
    calls: dict[str, int]  # by role, at most
    tokens: dict[str, int]  # by role, at most
    seconds: float | None  # None: nothing measured to base it on
    usd: float | None  # None: no prices set
    basis: str  # where the per-call figures came from
    earlier: float | None = None  # episodes the earlier runs on this environment in this database spent, on average

    @property
    def total_episodes(self) -> int:
        return sum(self.episodes.values())

    def line(self) -> str:
        phases = ", ".join(f"{phase} {n}" for phase, n in self.episodes.items() if n)
        roles = "; ".join(f"{role} {self.calls[role]} calls, {self.tokens[role]:,} tokens" for role in self.calls)
        when = f"; {self.seconds / 60:.0f} min" if self.seconds is not None else ""
        money = f"; ${self.usd:.2f}" if self.usd is not None else "; no prices set"
        seen = f"; earlier runs here spent {self.earlier:.0f} episodes on average" if self.earlier is not None else ""
        return f"at most {self.total_episodes} episodes ({phases}); {roles}{when}{money} ({self.basis}){seen}"


def training_items(config: RunConfig, dev: int) -> int:
    """The dev items that train (the rest are held back for the first probes)."""
    return dev - min(config.gate.probe_pool or config.probe_size, dev // 3)


def decisions_at_most(config: RunConfig, dev: int) -> int:
    """One decision a batch, at most."""
    return config.epochs * math.ceil(training_items(config, dev) / max(1, config.batch_size))


def episodes_by_phase(config: RunConfig, dev: int, val: int, test: int, reference: bool) -> dict[str, int]:
    """Upper bounds per phase for a run over ``dev``, ``val`` and ``test`` items."""
    training, batch, decisions = training_items(config, dev), max(1, config.batch_size), decisions_at_most(config, dev)
    loop = config.loop
    drafts = (loop.candidates if "proposer" in loop.sources else 0) + sum(
        source in loop.sources for source in ("induction", "reflection"))
    explore = config.explore
    return {
        "train": config.epochs * training,
        "trial": decisions * drafts * (loop.refinements + 1) * batch if loop.trial else 0,
        "probe": decisions * config.probe_size * (drafts + 1),
        "explore": decisions * batch * explore.amendments * (1 + explore.peers),
        "val": val * (config.epochs + 1),
        "test": test * (3 if reference else 2),
    }


def measured(runs: RunStore, environment: str) -> dict[str, tuple[float, float]]:
    """Per role, (tokens, seconds) per uncached call over this database's runs on ``environment``."""
    totals: dict[str, list[float]] = {}
    for info in runs.list():
        if info.environment != environment:
            continue
        for usage in runs.usage(info.id):
            calls = usage.calls - usage.cached_calls
            if calls > 0:
                cell = totals.setdefault(usage.role, [0.0, 0.0, 0.0])
                cell[0] += usage.prompt_tokens + usage.completion_tokens
                cell[1] += usage.seconds
                cell[2] += calls
    return {role: (tokens / calls, seconds / calls) for role, (tokens, seconds, calls) in totals.items()}


def estimate(config: RunConfig, environment: Environment, dev: list[Task], val: list[Task], test: list[Task],
             runs: RunStore | None = None) -> Estimate:
    """The run's cost, at most, before it starts."""
    # The reference arm is counted when it is asked for: an environment with no reference library runs none, and a
    # bound is still a bound (the estimate reads no yardstick; grasp/yardsticks.py).
    episodes = episodes_by_phase(config, len(dev), len(val), len(test), config.advanced.reference)
    rounds = config.max_rounds or environment.max_rounds
    decisions = decisions_at_most(config, len(dev))
    calls = {"executor": sum(episodes.values()) * rounds,
             "proposer": decisions * (config.loop.candidates * (config.loop.refinements + 1) + 1)}
    per_call = measured(runs, environment.name) if runs is not None else {}
    if per_call.get("executor"):
        basis = "per call as measured in this database's earlier runs on this environment"
    else:
        prompt = len(environment.instructions()) // 4 + 150
        per_call = {"executor": (prompt + config.executor.max_tokens, 0.0),
                    "proposer": (3 * prompt + config.loop.proposal_tokens, 0.0)}
        basis = "rough: no earlier run on this environment in this database, tokens from the prompt's length"
    executor_rate = per_call["executor"]
    proposer_rate = per_call.get("proposer", executor_rate)
    tokens = {"executor": int(calls["executor"] * executor_rate[0]), "proposer": int(calls["proposer"] * proposer_rate[0])}
    seconds = calls["executor"] * executor_rate[1] + calls["proposer"] * proposer_rate[1]
    earlier = [runs.count_episodes(info.id) for info in runs.list()
               if info.kind == "improve" and info.environment == environment.name and info.status == "finished"] if runs else []
    return Estimate(episodes=episodes, calls=calls, tokens=tokens, seconds=seconds or None,
                    usd=_usd(config, tokens), basis=basis, earlier=sum(earlier) / len(earlier) if earlier else None)


def _usd(config: RunConfig, tokens: dict[str, int]) -> float | None:
    """Money at the configured prices, every token at the dearer of its role's two prices (an upper bound, like
    the rest); None when no price is set."""
    prices: dict[str, Any] = role_prices(config.model_dump(mode="json"))
    if not any(prices.values()):
        return None
    return sum(tokens[role] * max((prices.get(role) or {}).values(), default=0.0) for role in tokens) / 1e6


def estimate_run(environment: Environment, sealed: Environment, config: RunConfig, runs: RunStore | None) -> Estimate:
    """The estimate of a run of ``config``: its splits drawn as the run will draw them (nothing runs)."""
    from .improve.sampling import run_tasks_of
    from .improve.state import RunState

    state = RunState()
    dev, val = (run_tasks_of(split, environment, config, state, "estimate") for split in ("dev", "val"))
    return estimate(config, environment, dev, val, run_tasks_of("test", sealed, config, state, "estimate"), runs)
