"""From a finished batch to the candidates of one decision.

The loop hands over a batch's episodes; this module groups the failures by family, picks one (the
family with the fewest decisions so far, the largest), finds a passing trace of it (this batch, an
earlier pass, or an amended action now), asks every candidate source, drops duplicates, and refines
each candidate against the batch failures it was built for (grasp/improve/refine.py).
It also decides when the batch has collapsed far below what no skills score, from dev and probe
outcomes only (val never feeds a candidate).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from ..agent.search import SearchCalls
from ..edits import Edit, EditKind
from ..environment import Episode
from ..skills import Skill
from ..store.runs import RunStore
from ..tasks import Task
from .context import RunContext
from .explore import explore_amended, find_pass
from .lint import no_result_answers
from .proposer import Candidate, masker
from .refine import Refinement, Refiner
from .sources import CandidateSource, Contrast

RunEpisodes = Callable[[list[Task], dict[str, Skill], str, str], Awaitable[list[Episode]]]  # tasks, skills, phase, key
Note = Callable[[str], None]


def no_skill_rates(runs: RunStore, run_id: str) -> dict[str, float]:
    """Pass rate per family of the dev episodes (training batches and probes) that ran with no skill in
    their prompt: what the executor does unaided, measured without reading val."""
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for phase in ("train", "probe"):
        for episode in runs.episodes(run_id, phase=phase):
            if not episode.skills and episode.error is None:
                outcomes[episode.family].append(episode.passed)
    return {family: sum(values) / len(values) for family, values in outcomes.items()}


def without_duplicates(candidates: list[Candidate], seen: list[str]) -> list[Candidate]:
    unique, signatures = [], set()
    for candidate in candidates:
        signature = candidate.edit.model_dump_json() if candidate.edit else None
        if signature and signature in signatures:
            candidate = candidate.model_copy(update={"edit": None, "refusal": "duplicate of another candidate"})
        signatures.add(signature)
        unique.append(candidate.model_copy(update={"seen": seen}))
    return unique


def next_group(groups: dict[str, list[Episode]], turns: Counter[str]) -> tuple[str, list[Episode]]:
    """The family a decision learns from: the one with the fewest decisions so far, then the most failures
    (ties by name). With one decision a batch, "largest first" alone can spend every decision on one family
    while another's failures wait (seen on the main job: two magnesium decisions, none for the lookup)."""
    return max(sorted(groups.items()), key=lambda item: (-turns[item[1][0].family], len(item[1])))


class CandidateAssembly:
    """One decision's candidates: contrast, sources, duplicates, refinement."""

    def __init__(self, context: RunContext, dev: list[Task], sources: list[CandidateSource], run: RunEpisodes) -> None:
        self.env, self.executor = context.environment, context.executor
        self.config, self.runs, self.run_id, self.state = context.config, context.runs, context.run_id, context.state
        self.dev = {task.id: task for task in dev}
        self.sources, self.run_phase, self.note, self.on_episode = sources, run, context.note, context.on_episode
        config = context.config

        async def trial(tasks: list[Task], skills: dict[str, Skill], key: str) -> list[Episode]:
            return await run(tasks, skills, "trial", key)

        self.refiner = Refiner(context.environment, context.hints, context.proposer, trial, budget=config.loop.refinements,
                               trial=config.loop.trial, capacity=config.capacity, seed=config.seed,
                               max_tokens=config.loop.proposal_tokens, feedback=config.advanced.grader_feedback,
                               selection=config.selection)

    def no_result(self, task_id: str) -> list[Any] | None:
        """The no-result answer a dev task prescribes (None for a task outside dev, or one that prescribes none)."""
        task = self.dev.get(task_id)
        return task.no_result if task is not None else None

    async def collapsed(self, batch: list[Task], accuracy: float) -> bool:
        """The batch fell well below what no skills score on the same families, on dev: the episodes that ran
        without skills, else (a run that started from a non-empty library) the probe pool run once with none."""
        rates = no_skill_rates(self.runs, self.run_id)
        if not any(task.family in rates for task in batch):
            pool = [self.dev[i] for i in self.state.probe_pool if i in self.dev]
            await self.run_phase(pool, {}, "probe", "probe:no-skills")
            rates = no_skill_rates(self.runs, self.run_id)
        known = [rates[task.family] for task in batch if task.family in rates]
        return bool(known) and accuracy < sum(known) / len(known) - self.config.loop.collapse_margin

    async def candidates(self, key: str, batch: list[Task], episodes: list[Episode], skills: dict[str, Skill],
                         newest: Callable[[], str]) -> list[Candidate]:
        accuracy = sum(e.passed for e in episodes) / max(1, len(episodes))
        if skills and await self.collapsed(batch, accuracy):
            target = newest()
            self.note(f"{key}: dev accuracy {accuracy:.0%} fell well below no skills; probing removal of {target}")
            return [Candidate(edit=Edit(kind=EditKind.REMOVE, target=target, rationale="collapse recovery"),
                              group="recovery", origin="recovery")]
        contrast = await self.contrast(key, batch, episodes, skills)
        if contrast is None:
            return []
        candidates = [c for source in self.sources for c in await source.candidates(contrast)]
        self.state.notes.extend(contrast.notes)
        candidates = without_duplicates(candidates, contrast.seen)
        seen = [self.dev[i] for i in contrast.seen if i in self.dev]
        tasks = [self.dev[e.task_id] for e in contrast.failing if e.task_id in self.dev]
        on = Refinement(key=key, tasks=tasks, skills=skills, family=contrast.family, mask=contrast.mask,
                        forbidden=set().union(*(self.env.forbidden_values(t) for t in seen + tasks)),
                        none_answers=no_result_answers(seen, list(self.dev.values())))
        refined = []
        for index, candidate in enumerate(candidates):
            result = await self.refiner.refine(index, candidate, on)
            if candidate.edit is not None:
                self.note(f"{key}: candidate {index} ({candidate.origin}): "
                          f"{result.refusal if result.edit is None else result.trial or 'passed its critics'}")
            refined.append(result)
        return refined

    def turns_taken(self) -> Counter[str]:
        """How many decisions of this run so far were built from each family's traces."""
        turns: Counter[str] = Counter()
        for candidates in self.state.proposals.values():
            turns.update({self.dev[i].family for c in candidates for i in c.get("seen", []) if i in self.dev})
        return turns

    async def contrast(self, key: str, batch: list[Task], episodes: list[Episode],
                       skills: dict[str, Skill]) -> Contrast | None:
        failures = [e for e in episodes if not e.passed and e.error is None]
        if not failures:
            return None
        groups: dict[str, list[Episode]] = defaultdict(list)
        for episode in failures:
            groups[episode.family].append(episode)
        family, failing = next_group(groups, self.turns_taken())
        passing = await self.passing(key, batch, episodes, family, skills)
        shown = failing[:2] + passing[:1]
        seen = sorted({e.task_id for e in shown})
        return Contrast(key=key, label=family, family=family, failing=failing, passing=passing, skills=skills,
                        tasks=self.dev, seen=seen, seed=self.config.seed + len(self.state.proposals),
                        search=SearchCalls(self.env, runs=self.runs, run_id=self.run_id, phase="shorten"),
                        mask=masker(self.env, [self.dev[e.task_id] for e in shown if e.task_id in self.dev]))

    def peers(self, batch: list[Task], family: str) -> list[Task]:
        """Dev tasks of ``family`` met so far (this batch's, then earlier training batches'), at most
        ``explore.peers``: what an amended pass is replayed on before it is learned from. Training tasks
        only, never the probe pool, so a decision's probe stays unseen."""
        met = [task.id for task in batch if task.family == family]
        met += sorted(e.task_id for e in self.runs.episodes(self.run_id, phase="train", family=family))
        ids = [i for i in dict.fromkeys(met) if i in self.dev and i not in self.state.probe_pool]
        return [self.dev[i] for i in ids[:self.config.explore.peers]]

    async def passing(self, key: str, batch: list[Task], episodes: list[Episode], family: str,
                      skills: dict[str, Skill]) -> list[Episode]:
        """A passing trace of ``family``: this batch, an earlier pass (a trial pass too), or an amended action now."""
        found = find_pass(episodes, family, self.runs, self.run_id, trivial=self.no_result)
        explore = self.config.explore
        if found:
            return found
        failing_pairs = [(t, e) for t, e in zip(batch, episodes, strict=False) if not e.passed and t.family == family]
        if explore.amendments:
            amended = await explore_amended(
                self.env, self.executor, failing_pairs, skills, amendments=explore.amendments,
                checks=explore.amend_checks, seed=f"{self.config.seed}:{key}", runs=self.runs, run_id=self.run_id,
                selection=self.config.selection, max_rounds=self.config.max_rounds,
                peers=self.peers(batch, family), trivial=self.no_result, notice=self.config.advanced.last_round_notice,
                on_episode=self.on_episode)
            self.note(f"{key}: amending the rejected {family} actions from the environment's answers "
                      f"{'found a pass' if amended else 'found no pass'}")
            if amended:
                return [amended]
        return []
