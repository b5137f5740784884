"""What a run's tokens cost, from the ``prices`` in its model configs (USD per million tokens)."""

from __future__ import annotations

from typing import Any

from .store.runs import Usage


def role_prices(config: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Prices per role: the executor's, and the proposer's (the executor's when it has none) for the
    proposer (the writer)."""
    executor = (config.get("executor") or {}).get("prices") or {}
    proposer = (config.get("proposer") or {}).get("prices") or executor
    return {"executor": executor, "proposer": proposer}


def usage_cost(usage: Usage, prices: dict[str, dict[str, float]]) -> float | None:
    """USD for one role's usage; None when no price is configured for that role."""
    price = prices.get(usage.role) or {}
    if not price:
        return None
    return (usage.prompt_tokens * price.get("prompt", 0) + usage.completion_tokens * price.get("completion", 0)) / 1e6
