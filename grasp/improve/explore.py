"""Finding a pass: when a failing family has no passing trace, amend one of its rejected actions.

A weak executor may fail every task of a family, and then nothing it did is worth learning from. The
failing episode's rejected action, amended from what the environment said about it (``grasp.improve.amend``,
no model), opens a fresh episode that the executor finishes (phase ``explore``, stored under its own key, so
a resumed run never re-runs one). Only tasks of the current batch are amended, and peers are training tasks:
the probe never draws from either, so this never touches probe, val or test.

Re-attempts at a higher temperature were tried before amendment and removed: they found a pass in 1 of 27
dev decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ..agent.runner import run_tasks
from ..agent.selection import Selection
from ..environment import Environment, Episode
from ..models.base import Model
from ..skills import Skill
from ..store.runs import RunStore
from ..tasks import Task
from ..agent.search import SearchCalls
from .amend import amend
from .proposer import abstractor
from .traces import first_rejection


async def explore_amended(
    environment: Environment,
    model: Model,
    failing: Sequence[tuple[Task, Episode]],
    skills: dict[str, Skill],
    *,
    amendments: int,
    checks: int,
    seed: str,
    runs: RunStore,
    run_id: str,
    selection: Selection,
    max_rounds: int | None,
    peers: Sequence[Task] = (),
    trivial: Callable[[str], list[Any] | None] | None = None,
    notice: str | None = None,
    on_episode: Callable[[Episode], None] | None = None,
) -> Episode | None:
    """For each failing episode in turn, its first rejected action amended from the environment's own
    answer (``grasp.improve.amend``, no model): each accepted amendment, the cheapest first and at most
    ``amendments`` of them, opens a fresh episode that the executor finishes at temperature 0.

    A pass that teaches (``find_pass``'s rule) is then replayed on ``peers`` (other dev tasks of the family
    met so far), the amended action written with each peer's own values: the first pass whose action
    every peer also passes is returned, else the one most peers passed (the cheapest among equals); None
    when no amendment passes. Why: the cheapest accepted request can be right by luck. On the weather
    network, ``observations?sort=-time&per_page=1`` passed a latest-air-temperature task because that
    station's latest reading happened to be air temperature; the induced skill then answered a wind
    speed for the next station and was refused at the gate. The request with ``element=air_temp``
    was the ninth amendment of the same answer, and a peer tells the two apart."""
    async def finish(number: int, task: Task, action: str) -> Episode | None:
        [tried] = await run_tasks(
            environment, model, [task], skills, phase="explore", key_prefix=f"amend:{seed}:{number}", runs=runs,
            run_id=run_id, selection=selection, max_rounds=max_rounds, notice=notice,
            on_episode=on_episode, opening=[action])
        return tried

    best: tuple[int, Episode] | None = None  # (peers passed, the pass), the first found among equals
    for task, episode in sorted(failing, key=lambda pair: pair[0].id):
        rejected = first_rejection(episode)
        if rejected is None:
            continue
        found = await amend(SearchCalls(environment, runs=runs, run_id=run_id, phase="amend"), task, *rejected,
                            max_checks=checks)
        others = sorted((peer for peer in peers if peer.id != task.id), key=lambda peer: peer.id)
        for number, amendment in enumerate(found[:amendments]):
            tried = await finish(number, task, amendment.action)
            if tried is None or not tried.passed or not teaches(tried, trivial):
                continue
            template = abstractor([task])(amendment.action)
            passed = 0
            for peer in others:
                replayed = await finish(number, peer, with_values(template, peer))
                passed += bool(replayed is not None and replayed.passed)
            if passed == len(others):
                return tried
            if best is None or passed > best[0]:
                best = (passed, tried)
    return best[1] if best else None


def with_values(template: str, task: Task) -> str:
    """``template``'s ``<NAME>`` placeholders filled with ``task``'s own values (the first spelling of each)."""
    for name, spellings in task.spellings().items():
        if spellings:
            template = template.replace(f"<{name}>", spellings[0])
    return template


def teaches(episode: Episode, trivial: Callable[[str], list[Any] | None] | None) -> bool:
    """A pass worth learning from: it did some work, and its answer is not the environment's trivial one."""
    shortcut = trivial is not None and episode.answer is not None and episode.answer == trivial(episode.task_id)
    return did_work(episode) and not shortcut


def find_pass(episodes: Sequence[Episode], family: str, runs: RunStore, run_id: str,
              trivial: Callable[[str], list[Any] | None] | None = None) -> list[Episode]:
    """A passing trace of ``family`` that did some work (``did_work``) and answered something other than
    the trivial answer (``trivial(task_id)``, the no-result answer the task prescribes: a pass that a constant
    answer also earns, e.g. "not found" after a search that matched nothing, teaches the shortcut however
    much work preceded it). From this batch, else any earlier pass of the run (a trial or probe pass too:
    a candidate's passing trial is how induction bootstraps; the decision's probe excludes the tasks its
    candidates were built from). An earlier pass is chosen by content, not storage order, so a resumed
    run picks the same one."""
    passing = [e for e in episodes if e.passed and e.family == family and teaches(e, trivial)]
    if passing:
        return passing
    earlier = [e for phase in ("train", "explore", "trial", "probe")
               for e in runs.episodes(run_id, phase=phase, family=family, passed=True) if teaches(e, trivial)]
    return [min(earlier, key=lambda e: (e.task_id, len(e.messages), e.model_dump_json()))] if earlier else []


def did_work(episode: Episode) -> bool:
    """The episode had an action accepted before its answer. A pass whose only accepted action is the
    answer (a "none" answer after a rejected request) shows no procedure: it teaches the shortcut."""
    accepted = episode.step_ok[:-1] if episode.answer is not None else episode.step_ok
    return any(accepted)
