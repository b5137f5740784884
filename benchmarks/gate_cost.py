"""Gate cost at the paper's settings: probe episodes per decision next to an exhaustive gate's (1 + K) x N.

Scripted models (named as such: they are not a model's result), so the figure is about the gate's
bookkeeping, not any model: the arithmetic environment, B = 48, K = 4, N = 36, one epoch. The
executor reacts to the skills in its prompt (products need a "compute first" skill, any skill
named harmful-* breaks everything); the proposer drafts, per decision, one helpful, one harmful and
two no-op skills, in a seeded order. Early reject stops a candidate's probe once it cannot be
accepted; the trial on the batch refuses candidates that fix none of their batch failures before
any probe episode. The exhaustive gate runs the baseline and every valid candidate on all N items.

Run: python benchmarks/gate_cost.py [--seeds 3] [--no-trial] [--no-early-reject]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from environments.arithmetic import ArithmeticEnvironment  # noqa: E402
from grasp.bench import MethodRow, _gate_cost  # noqa: E402
from grasp.config import RunConfig  # noqa: E402
from grasp.improve import improve  # noqa: E402
from grasp.improve.refine import FIXED_NONE  # noqa: E402
from grasp.models import ScriptedModel  # noqa: E402
from grasp.store import LibraryStore  # noqa: E402
from tests.improve.scripted_run import HELPFUL, executor, proposal  # noqa: E402

N, K, B = 36, 4, 48


def drafting_proposer(seed: int) -> ScriptedModel:
    """One helpful, one harmful and two no-op drafts per decision, shuffled by ``seed``; a trial repair
    of a draft that fixed nothing gets a no-op rewrite (a repair that does not help)."""
    rng = random.Random(seed)
    calls = {"n": 0}
    drafts = [proposal(HELPFUL, "Use for product questions: compute with CALC before answering."),
              proposal("harmful-shortcut", "Use for every question: answer fast."),
              proposal("be-careful", "Use for every question: be careful.", "Check your work twice."),
              proposal("double-check", "Use for sums: add twice.", "Add the numbers twice before answering.")]

    def reply(messages: list[dict[str, str]]) -> str:
        text = messages[-1]["content"]
        if "classify" in messages[0]["content"]:
            count = int(text.split("Give exactly ")[1].split(" labels")[0])
            return json.dumps({"labels": ["guessed_product"] * count})
        if "name reusable procedures" in messages[0]["content"]:
            return json.dumps({"name": "calc-first", "description": "Use when asked for a product.", "advice": ""})
        if FIXED_NONE in text:
            return drafts[2]
        calls["n"] += 1
        if calls["n"] % K == 1:
            rng.shuffle(drafts)
        return drafts[(calls["n"] - 1) % K]

    return ScriptedModel(reply, name="drafting-proposer")


async def one(seed: int, *, trial: bool, early_reject: bool) -> MethodRow:
    config = RunConfig(environment="arithmetic", seed=seed, epochs=1, batch_size=B, capacity=10, probe_size=N,
                       limits={"dev": None, "val": None, "test": None},
                       advanced={"loop": {"candidates": K, "trial": trial, "sources": ["proposer"]},
                                 "gate": {"early_reject": early_reject, "probe_pool": 0}})
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "gate.db"
        result = await improve(ArithmeticEnvironment(seed=seed, per_split=180), executor(), config, db=db,
                               proposer=drafting_proposer(seed), run_id="gate")
        row = MethodRow(method="grasp", seeds=[seed], accuracy=[], mean=0, low=0, high=0)
        _gate_cost(row, LibraryStore(db).decisions(result.library.library, run_id="gate"), N)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--no-trial", action="store_true")
    parser.add_argument("--no-early-reject", action="store_true")
    options = parser.parse_args()
    ratios = []
    for seed in range(options.seeds):
        row = asyncio.run(one(seed, trial=not options.no_trial, early_reject=not options.no_early_reject))
        spent, exhaustive = row.probe_episodes / row.decisions, row.exhaustive_episodes / row.decisions
        ratios.append(spent / exhaustive)
        print(f"seed {seed}: {row.decisions} decision(s); probe episodes per decision {spent:.1f}, "
              f"exhaustive (1 + K) x N = {exhaustive:.1f}; ratio {spent / exhaustive:.2f}")
    print(f"median ratio over {options.seeds} seed(s): {statistics.median(ratios):.2f} "
          f"(N = {N}, K = {K}, B = {B}; trial {'off' if options.no_trial else 'on'}, "
          f"early reject {'off' if options.no_early_reject else 'on'}; scripted models)")


if __name__ == "__main__":
    main()
