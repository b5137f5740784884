"""`grasp improve`: epochs of batches, each ending in at most one gated edit.

All state lives in SQLite: the cursor (RunState) is saved after every
finished step, every episode is stored under a key before it counts, and an
accepted edit is committed with an idempotency key, so a resumed run never
runs an episode twice, loses none, or applies an edit twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ..agent.runner import run_tasks
from ..config import RunConfig
from ..edits import Evidence
from ..environment import Environment, Episode, Hints
from ..evaluate import EvalResult
from ..models.base import Model
from ..skills import Skill
from ..store import LibraryStore
from ..store.runs import RunStore
from ..tasks import Task
from .context import RunContext
from .contrast import CandidateAssembly
from .decide import GateRunner, Judged, best, evidence_for
from .probe import SAMPLERS
from .proposer import Candidate
from .sampling import balanced_sample, run_tasks_of
from .sealed import SealedSplit, sealed_test
from .rules import AcceptanceRule, rule_from
from .sources import CandidateSource, sources_from
from .state import RunState, ValPoint, best_val_point

Event = Callable[[str, dict], None]


class Improver:
    def __init__(self, environment: Environment, executor: Model, proposer: Model,
                 config: RunConfig, libraries: LibraryStore, runs: RunStore, run_id: str, library: str,
                 state: RunState, *, on_event: Event | None = None,
                 on_episode: Callable[[Episode], None] | None = None, rule: AcceptanceRule | None = None,
                 sources: list[CandidateSource] | None = None, sealed_environment: Environment | None = None) -> None:
        self.env, self.executor, self.proposer = environment, executor, proposer
        # Where the sealed test is drawn from and run: a held-out world (Environment.held_out), else the same one.
        self.sealed_env = sealed_environment or environment
        self.config, self.libraries, self.runs, self.run_id, self.library = config, libraries, runs, run_id, library
        self.state = state
        self.emit = on_event or (lambda kind, data: None)
        self.on_episode = on_episode
        # The strategies: named in the config, or passed in from Python (GEPA-style, through the constructor).
        self.rule = rule or rule_from(config.gate)
        # The environment's help to the learner; the generic defaults where it has none or the method runs without
        # it (grasp-bare). Nothing the executor reads comes from here.
        self.hints = (environment.hints() if config.advanced.environment_help else None) or Hints()
        self.sources = sources if sources is not None else sources_from(
            config, environment, self.hints, proposer, evidence=self._skill_evidence,
            on_note=lambda text: self.emit("note", {"text": text}))
        self.gate = GateRunner(environment, executor, runs, run_id, rule=self.rule,
                               early_reject=config.gate.early_reject, selection=config.selection,
                               max_rounds=config.max_rounds, concurrency=config.concurrency, notice=config.advanced.last_round_notice,
                               on_episode=on_episode)
        self.dev, self.val, test = (run_tasks_of(split, where, config, state, run_id) for split, where in
                                    (("dev", environment), ("val", environment), ("test", self.sealed_env)))
        self.dev_by_id = {task.id: task for task in self.dev}
        self.sealed = SealedSplit(test, state)

        async def run(tasks: list[Task], skills: dict[str, Skill], phase: str, prefix: str) -> list[Episode]:
            return await self._run(tasks, skills, phase=phase, prefix=prefix)

        context = RunContext(environment, self.hints, executor, proposer, config, runs, run_id, state,
                             note=lambda text: self.emit("note", {"text": text}), on_episode=on_episode)
        self.assembly = CandidateAssembly(context, self.dev, self.sources, run)

    # -- plumbing ---------------------------------------------------------------------
    def save(self) -> None:
        self.runs.update(self.run_id, state=self.state.model_dump(mode="json"))

    def head(self):
        return self.libraries.version(self.library)

    async def _run(self, tasks: list[Task], skills: dict[str, Skill], *, phase: str, prefix: str,
                   environment: Environment | None = None) -> list[Episode]:
        self.emit("phase", {"label": prefix, "total": len(tasks)})
        episodes = await run_tasks(environment or self.env, self.executor, tasks, skills, phase=phase, key_prefix=prefix,
                                   runs=self.runs, run_id=self.run_id, concurrency=self.config.concurrency,
                                   selection=self.config.selection,
                                   max_rounds=self.config.max_rounds, notice=self.config.advanced.last_round_notice,
                                   on_episode=self.on_episode)
        return [episode for episode in episodes if episode is not None]

    # -- the loop ---------------------------------------------------------------------
    async def run(self) -> RunState:
        state = self.state
        if not state.probe_pool:
            self._reserve_probe_pool()
        if not state.baseline_done:
            await self._validate(epoch=0)
            state.baseline_done = True
            self.save()
        training = [task for task in self.dev if task.id not in set(state.probe_pool)]
        size = max(1, self.config.batch_size)
        while state.epoch <= self.config.epochs and not state.finished_training:
            order = random.Random(f"{self.config.seed}:epoch:{state.epoch}").sample(training, len(training))
            batches = [order[i:i + size] for i in range(0, len(order), size)]
            while state.batch < len(batches):
                await self._step(state.epoch, state.batch, batches[state.batch])
                state.batch += 1
                self.save()
            if state.epoch not in state.val_done_epochs:
                await self._validate(epoch=state.epoch)
            state.epoch += 1
            state.batch = 0
            self.save()
        state.finished_training = True
        await self._finish()
        self.save()
        return state

    def _reserve_probe_pool(self) -> None:
        size = self.config.gate.probe_pool or self.config.probe_size
        size = min(size, len(self.dev) // 3)
        pool = balanced_sample(self.dev, size, seed=f"{self.config.seed}:probe-pool", stratum=self.env.stratum)
        self.state.probe_pool = sorted(task.id for task in pool)
        self.save()

    async def _validate(self, epoch: int) -> None:
        if not self.val:  # `limits: {val: 0}`: no checkpoint choice; the gated head is the final library
            return
        if epoch in self.state.val_done_epochs:  # a resume after the point was stored, before the cursor moved
            return
        head = self.head()
        skills = {} if epoch == 0 else head.skills
        episodes = await self._run(self.val, skills, phase="val", prefix=f"val:e{epoch}")
        result = EvalResult(episodes=episodes)
        point = ValPoint(epoch=epoch, version=0 if epoch == 0 else head.number, accuracy=result.accuracy,
                         passed=result.passed, total=len(episodes))
        self.state.val.append(point)
        self.state.val_done_epochs.append(epoch)
        self.emit("val", point.model_dump())
        self.save()

    async def _step(self, epoch: int, index: int, batch: list[Task]) -> None:
        key = f"e{epoch}:b{index}"
        if key not in self.state.step_base:  # pin the library this step started from, for resume
            self.state.step_base[key] = self.head().number
            self.save()
        head = self.libraries.version(self.library, self.state.step_base[key])
        episodes = await self._run(batch, head.skills, phase="train", prefix=f"train:{key}")
        accuracy = sum(e.passed for e in episodes) / max(1, len(episodes))
        self.emit("batch", {"key": key, "accuracy": accuracy, "skills": len(head.skills)})
        if key not in self.state.proposals:
            candidates = await self._candidates(key, batch, episodes, head.skills)
            self.state.proposals[key] = [c.model_dump(mode="json") for c in candidates]
            self.state.dev_accuracy.append(accuracy)
            self.save()
        candidates = [Candidate.model_validate(c) for c in self.state.proposals[key]]
        await self._decide(key, batch, head, candidates)

    async def _candidates(self, key: str, batch: list[Task], episodes: list[Episode],
                          skills: dict[str, Skill]) -> list[Candidate]:
        def newest() -> str:
            return max(skills, key=lambda name: self.libraries.skill_history(self.library, name)[-1].version)

        return await self.assembly.candidates(key, batch, episodes, skills, newest)

    def _skill_evidence(self) -> dict[str, str]:
        # Accepted decisions carry the evidence of every skill the gate let in (one query, no snapshots).
        return {d.edit.skill.name: d.evidence.one_line() for d in self.libraries.decisions(self.library)
                if d.result_version is not None and d.edit is not None and d.edit.skill is not None}

    async def _decide(self, key: str, batch: list[Task], head, candidates: list[Candidate]) -> None:
        decided = {d.evidence.extra.get("candidate") for d in self.libraries.decisions(self.library, run_id=self.run_id)
                   if d.evidence.extra.get("decision") == key}
        for index, candidate in enumerate(candidates):
            if candidate.edit is None:
                said = (f"refused {candidate.refusal}" if candidate.refused_at == "trial" else
                        f"refused by the lint: {candidate.refusal}" if candidate.refused_at == "lint" else
                        f"invalid proposal: {candidate.refusal}")
                self._record(key, index, candidate, head, decided, reason=said, stage=candidate.refused_at or "invalid")
        valid = [(index, c) for index, c in enumerate(candidates) if c.edit is not None]
        if not valid:
            return
        if not self.rule.probe_needed(len(valid)):  # an ungated rule with nothing to choose between
            index, candidate = valid[0]
            verdict = Judged(edit=candidate.edit, tally=None, accepted=True, reason=f"{self.rule.name}: no probe")
            self._record(key, index, candidate, head, decided, judged=verdict, accepted=True, stage="ungated")
            return
        exclude = {task.id for task in batch} | {task_id for _, c in valid for task_id in c.seen}
        focus = frozenset(family for _, c in valid for family in self._families(c))
        probe = await self._probe(key, exclude, head.skills, focus)
        if not probe:
            for index, candidate in valid:
                self._record(key, index, candidate, head, decided, stage="unjudged",
                             reason="not judged: no probe items outside the batch and the traces it was built from")
            return
        baseline = [e for e in await self.gate.run(probe, head.skills) if e is not None]
        judged: list[Judged] = []
        for _, candidate in valid:
            judged.append(await self.gate.judge(probe, baseline, head.skills, candidate.edit))
        winner = best(judged)
        for (index, candidate), result in zip(valid, judged, strict=True):
            if result is winner:
                self._record(key, index, candidate, head, decided, judged=result, accepted=True, probe=probe)
            else:
                reason = result.reason if not result.accepted else f"a better candidate won ({result.reason})"
                if not result.accepted:
                    reason += self._unshowable(candidate, result)
                self._record(key, index, candidate, head, decided, judged=result, reason=reason, probe=probe)

    def _families(self, candidate: Candidate) -> set[str]:
        """The families whose traces built ``candidate``: the ones its fix should show on."""
        return {self.dev_by_id[task_id].family for task_id in candidate.seen if task_id in self.dev_by_id}

    def _unshowable(self, candidate: Candidate, result: Judged) -> str:
        """Why a refusal may say nothing about the candidate: its probe held no failing item of the
        families it was built from, so the fix it was written for could not show (seen when a small dev
        pool's few failing items of a family all built the candidate, which keeps them out of its probe)."""
        families = self._families(candidate)
        if not families or result.tally is None:
            return ""
        if any(not item.before and item.family in families for item in result.tally.items):
            return ""
        return f"; the probe held no failing {', '.join(sorted(families))} item, so the fix it was built for could not show"

    def _record(self, key: str, index: int, candidate: Candidate, head, decided: set, *, reason: str = "",
                judged: Judged | None = None, accepted: bool = False, probe: list[Task] | None = None,
                stage: str = "gate") -> None:
        """The one path every decision takes: stored with its run, once (a resume skips it), announced."""
        models = {"executor": self.executor.id, "proposer": self.proposer.id}
        extra = {"decision": key, "candidate": index, "group": candidate.group, "seen": candidate.seen}
        if probe is not None:
            extra["probe"] = [task.id for task in probe]
        if accepted and judged is not None:
            evidence = evidence_for(judged, self.rule, accepted=True, reason=judged.reason, models=models, extra=extra)
            version = self.libraries.apply(self.library, judged.edit, origin=candidate.origin, evidence=evidence,
                                           base=head.number, idempotency_key=f"{self.run_id}:{key}", run_id=self.run_id,
                                           stage=stage)
            self.emit("accepted", {"key": key, "edit": judged.edit.summary(), "version": version.number,
                                   "origin": candidate.origin, "evidence": evidence.one_line()})
            return
        if index in decided:
            return
        if judged is not None:
            evidence = evidence_for(judged, self.rule, accepted=False, reason=reason, models=models, extra=extra)
        else:
            evidence = Evidence(accepted=False, reason=reason, budget=self.rule.budget, models=models, extra=extra)
        self.libraries.record_decision(self.library, base=head.number, edit=candidate.edit, evidence=evidence,
                                       origin=candidate.origin, run_id=self.run_id, stage=stage)
        edit = candidate.edit.summary() if candidate.edit else "candidate"
        said = evidence.one_line() if judged is not None else reason
        self.emit("refused", {"key": key, "edit": edit, "origin": candidate.origin, "stage": stage, "evidence": said})

    async def _probe(self, key: str, exclude: set[str], skills: dict[str, Skill],
                     focus: frozenset[str] = frozenset()) -> list[Task]:
        """Probe items outside ``exclude`` (the batch, and every task whose trace built a candidate),
        drawn by the configured sampler from their current pass/fail status, failing items of the
        ``focus`` families first."""
        tasks = self.dev_by_id
        status = dict(self.runs.outcomes(self.run_id, phase="train"))  # the latest outcome of each task wins
        pool = [tasks[i] for i in self.state.probe_pool if i in tasks]
        pool_runs = await self.gate.run(pool, skills)
        for episode in pool_runs:
            if episode is not None:
                status[episode.task_id] = episode.passed
        known = [(tasks[i], passed) for i, passed in sorted(status.items()) if i in tasks]
        return SAMPLERS[self.config.gate.sampler](known, size=self.config.probe_size, exclude=exclude,
                                                  seed=f"{self.config.seed}:probe:{key}", focus=focus)

    async def _finish(self) -> None:
        state = self.state
        best_point = best_val_point(state.val, self.config.loop.checkpoint)
        state.checkpoint = best_point.version if best_point else self.head().number
        chosen = self.libraries.version(self.library, best_point.version) if best_point else None
        if chosen and chosen.content_hash != self.head().content_hash:
            self.libraries.checkout(self.library, best_point.version, message=f"best-val checkpoint "
                                    f"(val {best_point.accuracy:.1%}, epoch {best_point.epoch})")
        if not state.test:
            final = self.head()
            tasks = self.sealed.resume_read() if state.test_read else self.sealed.read()
            self.save()

            async def run(items: list[Task], skills: dict[str, Skill], prefix: str) -> list[Episode]:
                return await self._run(items, skills, phase="test", prefix=prefix, environment=self.sealed_env)

            state.test = await sealed_test(self.sealed_env, tasks, final.skills, final.number, run,
                                           reference=self.config.advanced.reference, development=self.env)
            self.emit("test", state.test)
