"""The reply cache: temperature-0 calls are answered from SQLite across runs, with hits counted."""

from __future__ import annotations

import asyncio

from grasp.models import MeteredModel, ScriptedModel
from grasp.store import Database
from grasp.store.runs import ReplyCache, RunStore

MESSAGES = [{"role": "user", "content": "What is 2 + 2?"}]


def test_second_run_hits_the_cache_and_usage_is_booked_per_role(tmp_path) -> None:
    database = Database(tmp_path / "g.db")
    runs, cache = RunStore(database), ReplyCache(database)
    counter = {"n": 0}

    def reply(messages):
        counter["n"] += 1
        return f"ANSWER: {counter['n']}"

    for run in ("a", "b"):
        run_id = runs.create(kind="eval", environment="x", config={}, run_id=run)
        model = MeteredModel(ScriptedModel(reply), role="executor", runs=runs, run_id=run_id, cache=cache)
        first = asyncio.run(model.chat(MESSAGES))
        hot = asyncio.run(model.chat(MESSAGES, temperature=0.7))  # sampled calls are never cached
        assert first.text == "ANSWER: 1"
        assert hot.cached is False
    assert counter["n"] == 3  # run b's temperature-0 call came from the cache
    usage_b = runs.usage("b")[0]
    assert (usage_b.role, usage_b.calls, usage_b.cached_calls) == ("executor", 2, 1)
    different = MeteredModel(ScriptedModel(reply), role="executor", cache=cache)
    asyncio.run(different.chat(MESSAGES, max_tokens=5))  # another request shape: a miss
    assert different.misses == 1 and different.hits == 0


def test_runs_show_prices_tokens_per_role(tmp_path) -> None:
    from grasp.cli.evaluation import role_prices

    prices = role_prices({"executor": {"prices": {"prompt": 1.0, "completion": 2.0}}})
    assert set(prices) == {"executor", "proposer"} and prices["executor"] == prices["proposer"] == {"prompt": 1.0, "completion": 2.0}
    assert role_prices({"executor": {}})["executor"] == {}
