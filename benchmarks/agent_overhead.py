"""Agent-loop figures.

1. With a scripted zero-latency model that plays reference solutions: episodes per second and the
   loop's own overhead per episode (everything but the model) on the FHIR environment.
2. With the embedded model (if installed, --local N): share of wall time spent inside the model, and
   prompt tokens per episode with prefix reuse (stable system prompt) vs without (a system prompt
   that differs per episode, so no KV-cache prefix can be reused), measured as model seconds.

Run: python benchmarks/agent_overhead.py [--episodes 200] [--local 4]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environments.fhir.environment import FhirEnvironment  # noqa: E402
from grasp.agent import run_episode  # noqa: E402
from grasp.agent.runner import run_tasks  # noqa: E402
from tests.helpers import reference_model  # noqa: E402


async def scripted(env: FhirEnvironment, count: int) -> None:
    tasks = [t for t in env.tasks("dev") + env.tasks("val") if t.family != "anticoag_reconcile"][:count]
    model = reference_model(tasks)
    await run_episode(env, tasks[0], model, [])  # warm up the world and the server
    start = time.perf_counter()
    episodes = await run_tasks(env, model, tasks, {}, phase="bench", key_prefix="bench", concurrency=4)
    elapsed = time.perf_counter() - start
    passed = sum(e.passed for e in episodes if e)
    steps = sum(e.rounds for e in episodes if e)
    print(f"scripted model: {len(tasks)} episodes ({steps} steps, {passed} passed) in {elapsed:.2f} s: "
          f"{len(tasks) / elapsed:.1f} episodes/s, overhead {elapsed / len(tasks) * 1e3:.1f} ms per episode "
          f"({elapsed / steps * 1e3:.2f} ms per step)")


async def local(env: FhirEnvironment, count: int) -> None:
    from grasp import ModelConfig
    from grasp.models import load_model

    model = load_model(ModelConfig(max_tokens=96))
    inner_chat = model.chat
    inside = {"seconds": 0.0}

    async def timed_chat(*args, **kwargs):
        start = time.perf_counter()
        try:
            return await inner_chat(*args, **kwargs)
        finally:
            inside["seconds"] += time.perf_counter() - start

    model.chat = timed_chat  # type: ignore[method-assign]
    tasks = [t for t in env.tasks("dev") if t.family in {"latest_mg_24h", "latest_glucose"}][:count]
    stable = env.instructions
    for label, perturb in (("stable prefix", False), ("no prefix reuse", True)):
        wall, prompt_tokens = [], []
        inside["seconds"] = 0.0
        for index, task in enumerate(tasks):
            if perturb:  # a different first line per episode defeats the KV-cache prefix
                env.instructions = lambda index=index: f"Episode {index}.\n" + stable()  # type: ignore[method-assign]
            start = time.perf_counter()
            episode = await run_episode(env, task, model, [], max_rounds=3)
            wall.append(time.perf_counter() - start)
            env.instructions = stable  # type: ignore[method-assign]
            prompt_tokens.append(episode.prompt_tokens)
        print(f"embedded model, {label}: median episode {statistics.median(wall):.1f} s, "
              f"{inside['seconds'] / sum(wall):.2%} of wall time inside the model, "
              f"median prompt tokens {statistics.median(prompt_tokens):.0f} per episode")
    await model.aclose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--local", type=int, default=0, help="episodes to time with the embedded model")
    args = parser.parse_args()
    env = FhirEnvironment()

    async def run() -> None:
        await scripted(env, args.episodes)
        if args.local:
            await local(env, args.local)
        await env.aclose()

    asyncio.run(run())


if __name__ == "__main__":
    main()
