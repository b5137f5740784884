"""One gate decision: probe the candidates against the current library and pick at most one."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from pydantic import BaseModel, Field

from ..agent.runner import run_tasks
from ..agent.selection import Selection
from ..edits import Edit, Evidence
from ..environment import Environment, Episode
from ..errors import ValidationError
from ..models.base import Model
from ..skills import Skill
from ..store.library import apply_edit
from ..store.runs import RunStore
from ..tasks import Task
from .gate import GateRule, Tally, tally
from .rules import AcceptanceRule


class Judged(BaseModel):
    edit: Edit
    tally: Tally | None
    accepted: bool
    reason: str
    episodes: list[Episode | None] = Field(default_factory=list, exclude=True)  # the candidate's probe runs


class GateRunner:
    """Runs probes through the shared episode store (so every probe episode is resumable)."""

    def __init__(self, environment: Environment, model: Model, runs: RunStore, run_id: str, *, rule: AcceptanceRule,
                 early_reject: bool, selection: Selection, max_rounds: int | None, concurrency: int,
                 notice: str | None = None,
                 on_episode: Callable[[Episode], None] | None = None) -> None:
        self.environment, self.model, self.runs, self.run_id = environment, model, runs, run_id
        self.rule, self.early_reject = rule, early_reject
        self.options = {"selection": selection, "max_rounds": max_rounds, "notice": notice}
        self.concurrency = concurrency
        self.on_episode = on_episode

    async def run(self, tasks: Sequence[Task], skills: dict[str, Skill],
                  should_stop: Callable[[dict[int, Episode]], bool] | None = None) -> list[Episode | None]:
        return await run_tasks(
            self.environment, self.model, tasks, skills, phase="probe", key_prefix="probe", runs=self.runs,
            run_id=self.run_id, concurrency=1 if should_stop else self.concurrency, should_stop=should_stop,
            on_episode=self.on_episode, **self.options,
        )

    async def judge(self, probe: Sequence[Task], baseline: list[Episode], skills: dict[str, Skill],
                    edit: Edit) -> Judged:
        try:
            candidate_skills = apply_edit(skills, edit)
        except ValidationError as error:
            return Judged(edit=edit, tally=None, accepted=False, reason=str(error))
        hopeless = getattr(self.rule, "hopeless", None)  # rules that can tell early offer it
        stop = (lambda finished: hopeless(baseline, finished)) if self.early_reject and hopeless else None
        episodes = await self.run(probe, candidate_skills, stop)
        scoring = GateRule(budget=self.rule.budget, invalid_penalty=self.rule.invalid_penalty, alpha=self.rule.alpha)
        result = tally(baseline, episodes, scoring)
        ok, reason = self.rule.judge(result)
        if result.skipped:
            reason += f" (stopped early: {result.skipped} probe episode(s) saved)"
        return Judged(edit=edit, tally=result, accepted=ok, reason=reason, episodes=list(episodes))


def evidence_for(judged: Judged, rule: AcceptanceRule, *, accepted: bool, reason: str, models: dict[str, str],
                 extra: dict) -> Evidence:
    t = judged.tally
    return Evidence(
        accepted=accepted, reason=reason, items=t.items if t else [], fixes=t.fixes if t else 0,
        regressions=t.regressions if t else 0, invalid_regressions=t.invalid_regressions if t else 0,
        score=t.score if t else 0.0, budget=rule.budget, p_value=t.p_value if t else None,
        episodes_run=t.run if t else 0, episodes_saved=t.skipped if t else 0, models=models, extra=extra,
    )


def best(judged: list[Judged]) -> Judged | None:
    """The accepted candidate with the highest score; fewer regressions, then earlier, break ties."""
    winners = [(index, j) for index, j in enumerate(judged) if j.accepted and j.tally is not None]
    if not winners:
        return None
    return max(winners, key=lambda pair: (pair[1].tally.score, -pair[1].tally.regressions, -pair[0]))[1]
