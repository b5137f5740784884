"""Prompt processing with one llama.cpp context shared by every role vs a context per role.

The main job interleaves executor calls (the FHIR instructions and the skills, then a task) with
proposer and classifier calls (another system prompt, a long brief). On one shared context each
role switch throws away the processed head of the other role's prompt; with a context per role
(`Model.with_own_context`) both heads stay. This replays the main job's pattern with the embedded
model: ``--every`` executor calls (one per dev task, the reference skills in the prompt), then one
proposer-shaped call (the FHIR proposer brief and example), and reports the model seconds of both
arms, the median per executor call and the ratio. Replies are limited to ``--tokens`` tokens, so
the figure is about prompt processing; generation is the same in both arms.

Run: python benchmarks/role_contexts.py [--switches 4] [--every 20] [--tokens 4]
(the main job's own pattern: about 260 executor calls and 12 proposer/classifier calls, every ~20).
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
from grasp.agent.selection import skills_block  # noqa: E402
from grasp.config import ModelConfig  # noqa: E402
from grasp.models import load_model  # noqa: E402
from grasp.models.base import Model  # noqa: E402


def prompts(env: FhirEnvironment, count: int) -> tuple[list[list[dict[str, str]]], list[dict[str, str]]]:
    system = env.instructions() + skills_block(env.reference_library(), env.hints().variable_notes())
    families = {"latest_glucose", "latest_mg_24h", "patient_lookup"}
    tasks = [task for task in env.tasks("dev") if task.family in families][:count]
    executor = [[{"role": "system", "content": system}, {"role": "user", "content": env.task_prompt(task)}]
                for task in tasks]
    brief = env.hints().proposer_brief()
    proposer = [{"role": "system", "content": brief.persona},
                {"role": "user", "content": f"API: {env.instructions()}\n\nExample of the format, for a different "
                                            f"task:\n{brief.example}\n\nThe task was: {tasks[0].instruction}"}]
    return executor, proposer


async def replay(executor: Model, proposer: Model, calls: list[list[dict[str, str]]], brief: list[dict[str, str]],
                 every: int, tokens: int) -> tuple[float, list[float]]:
    per_call: list[float] = []
    total = 0.0
    for index, messages in enumerate(calls):
        if index % every == 0:
            started = time.perf_counter()
            await proposer.chat(brief, max_tokens=tokens)
            total += time.perf_counter() - started
        started = time.perf_counter()
        await executor.chat(messages, max_tokens=tokens)
        per_call.append(time.perf_counter() - started)
        total += per_call[-1]
    return total, per_call


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--switches", type=int, default=4, help="proposer calls in the replay")
    parser.add_argument("--every", type=int, default=20, help="executor calls between two proposer calls")
    parser.add_argument("--tokens", type=int, default=4, help="reply tokens per call")
    args = parser.parse_args()
    env = FhirEnvironment()
    try:
        calls, brief = prompts(env, args.switches * args.every)
        model = load_model(ModelConfig(provider="local", n_ctx=8192))
        shared_total, shared = await replay(model, model, calls, brief, args.every, args.tokens)
        await model.aclose()
        model = load_model(ModelConfig(provider="local", n_ctx=8192))
        writer = model.with_own_context()
        own_total, own = await replay(model, writer, calls, brief, args.every, args.tokens)
        await writer.aclose()
        await model.aclose()
    finally:
        await env.aclose()
    print(f"{len(calls)} executor calls, a proposer call before every {args.every}, {args.tokens}-token replies")
    print(f"one shared context: {shared_total:.1f} s, median executor call {statistics.median(shared):.2f} s, "
          f"first after a proposer call {statistics.median(shared[::args.every]):.2f} s")
    print(f"a context per role: {own_total:.1f} s, median executor call {statistics.median(own):.2f} s, "
          f"first after a proposer call {statistics.median(own[::args.every]):.2f} s")
    print(f"ratio (per role / shared): {own_total / shared_total:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
