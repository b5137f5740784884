"""Revision (GRASP step 6): a narrower version of a winner that broke probe items.

The reviser sees the items the winner broke next to one it fixed, asks for the same skill rewritten
more narrowly, and the gate judges the rewrite on the same probe: it replaces the winner only if it
scores strictly higher. The request is stored with the run's proposals, so a resume never asks twice.
``loop.revise: false`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable
from ..config import RunConfig
from ..environment import Environment, Episode
from ..models.base import Model
from ..skills import Skill
from ..tasks import Task
from .decide import GateRunner, Judged
from .proposer import Candidate, masker, propose, revision_prompt, to_candidate


class Reviser:
    def __init__(self, environment: Environment, proposer: Model, config: RunConfig, gate: GateRunner) -> None:
        self.env, self.proposer, self.config, self.gate = environment, proposer, config, gate

    async def revise(self, key: str, probe: list[Task], baseline: list[Episode], skills: dict[str, Skill],
                     winner: Judged, state, save: Callable[[], None]) -> Judged | None:
        """The revision's verdict if it beats ``winner`` (which is then marked superseded), else None."""
        skill = winner.edit.skill
        if skill is None or winner.tally is None:
            return None
        revision_key = f"{key}:revision"
        if revision_key not in state.proposals:
            broken = {item.task_id for item in winner.tally.items if item.regressed}
            fixed = {item.task_id for item in winner.tally.items if item.fixed}
            mask = masker(self.env, [task for task in probe if task.id in broken | fixed])
            prompt = revision_prompt(skill, [e for e in baseline if e.task_id in broken],
                                     [e for e in baseline if e.task_id in fixed], mask=mask)
            proposals, _ = await propose(self.proposer, prompt, 1, temperature=0.0, seed=self.config.seed,
                                         max_tokens=self.config.loop.proposal_tokens)
            candidate = to_candidate(proposals[0], library={**skills, skill.name: skill},
                                     capacity=self.config.loop.capacity + 1, family=skill.tags[0] if skill.tags else "",
                                     forbidden=set(), group="revision", mask=mask)
            if candidate.edit is not None and candidate.edit.skill is not None:
                revised_skill = candidate.edit.skill.model_copy(update={"name": skill.name, "tags": skill.tags})
                candidate = Candidate(edit=winner.edit.model_copy(update={"skill": revised_skill}), group="revision")
            state.proposals[revision_key] = [candidate.model_dump(mode="json")]
            save()
        candidate = Candidate.model_validate(state.proposals[revision_key][0])
        if candidate.edit is None:
            state.notes.append(f"{key}: revision refused ({candidate.refusal})")
            return None
        judged = await self.gate.judge(probe, baseline, skills, candidate.edit)
        if judged.accepted and judged.tally and judged.tally.score > winner.tally.score:
            winner.accepted, winner.reason = False, f"superseded by its revision ({winner.reason})"
            return judged
        state.notes.append(f"{key}: revision did not beat the original ({judged.reason})")
        return None
