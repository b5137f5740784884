"""A scripted improve run on the arithmetic environment, importable by tests and runnable as a script.

The executor is a scripted model that *reacts to skills*: it gets products
wrong unless a skill named in ``HELPFUL`` is in its system prompt, and gets
everything wrong when a skill named ``harmful-*`` is there. The proposer
replays a list of proposals. Usage as a script: ``python -m tests.improve.scripted_run DB [KILL_AFTER]``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

from environments.arithmetic import ArithmeticEnvironment, safe_eval
from grasp.config import AdvancedConfig, GateConfig, LoopConfig, RunConfig
from grasp.improve import ImproveResult, improve
from grasp.improve.drafts import Proposal, render_draft
from grasp.models import ScriptedModel

HELPFUL = "compute-first"


def executor(kill_after: int | None = None) -> ScriptedModel:
    calls = {"n": 0}

    def reply(messages: list[dict[str, str]]) -> str:
        calls["n"] += 1
        if kill_after is not None and calls["n"] > kill_after:
            os.kill(os.getpid(), signal.SIGKILL)  # a crash in the middle of a batch
        return answer(messages)

    return ScriptedModel(reply, name="skill-aware-executor")


def answer(messages: list[dict[str, str]]) -> str:
    """The skill-aware executor's reply to ``messages``."""
    system = messages[0]["content"]
    question = messages[1]["content"].split("What is ")[1].rstrip("?")
    if "### harmful-" in system:
        return "ANSWER: -1"
    broad = "### broad-calc" in system
    if broad and "*" not in question and "only products" not in system:
        return "ANSWER: -1"  # the broad skill breaks plain sums until it is narrowed
    if "*" in question and f"### {HELPFUL}" not in system and not broad:
        return "ANSWER: 0"
    return f"ANSWER: {safe_eval(question)}"


def proposal(name: str, description: str, body: str = "Reply CALC: <expression>, then ANSWER: <value>.",
             action: str = "ADD", target: str | None = None) -> str:
    """A SKILL.md draft, as a proposer writes one."""
    return render_draft(Proposal(action=action, name=name, description=description, body=body, target=target))


def proposer(proposals: list[str], *, by_seed: int | None = None) -> ScriptedModel:
    """Replays ``proposals`` in order; with ``by_seed``, picks ``proposals[seed - by_seed]`` instead, so
    that a resumed process (whose queue would start over) asks for exactly what the first one would."""
    queue = list(proposals)
    fallback = proposal("be-careful", "Use always: be careful.", "Be careful and check your work twice.")

    def reply(messages: list[dict[str, str]]) -> str:
        if by_seed is not None:
            index = (model.options[-1].get("seed") or 0) - by_seed
            return proposals[index] if 0 <= index < len(proposals) else fallback
        return queue.pop(0) if queue else fallback

    model = ScriptedModel(reply, name="replay-proposer")
    return model


def config(**loop: object) -> RunConfig:
    gate = loop.pop("gate", {})
    # These runs test the gate on exactly the proposals scripted here: no trial on the batch, whose rewrites
    # would draw on the same replay queue (tests/improve/test_refine.py tests the refine loop).
    sizes = {key: loop.pop(key) for key in ("epochs", "batch_size", "capacity", "skills_per_episode") if key in loop}
    probe = {"probe_size": gate.pop("probe_size")} if "probe_size" in gate else {}
    return RunConfig(environment="arithmetic", seed=3, limits={"dev": None, "val": None, "test": None},
                     **{"epochs": 1, "batch_size": 6, "probe_size": 6, "capacity": 10, "skills_per_episode": 3, **sizes, **probe},
                     advanced=AdvancedConfig(loop=LoopConfig(**{"candidates": 1, "trial": False, **loop}),
                                             gate=GateConfig(**{"probe_pool": 0, **gate})))


DEFAULT_PROPOSALS = [
    proposal(HELPFUL, "Use for product questions: compute with CALC before answering."),
    proposal("harmful-shortcut", "Use for every question: answer fast."),
    proposal("be-careful", "Use for every question: be careful.", "Be careful and check your work twice."),
]


async def run(db: str, *, kill_after: int | None = None, resume: str | None = None, run_id: str | None = None,
              proposals: list[str] | None = None, cfg: RunConfig | None = None) -> ImproveResult:
    environment = ArithmeticEnvironment(seed=1, per_split=18)
    cfg = cfg or config(candidates=1, epochs=2)
    return await improve(environment, executor(kill_after), cfg, db=db,
                         proposer=proposer(proposals or DEFAULT_PROPOSALS, by_seed=None if proposals else cfg.seed),
                         resume=resume,
                         run_id=run_id)


if __name__ == "__main__":
    database, kill = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else None
    resume_id = sys.argv[3] if len(sys.argv) > 3 else None
    result = asyncio.run(run(database, kill_after=kill, resume=resume_id, run_id=None if resume_id else "r1"))
    print(json.dumps({"hash": result.library.content_hash, "skills": sorted(result.library.skills),
                      "accepted": result.counts.accepted, "refused": result.counts.refused}))
