"""Revision (GRASP step 6): a narrower version of a winner that broke probe items.

The reviser sees the winner's own runs: an item it broke (as the skill made it fail) next to one it
fixed (as the skill made it pass), and asks for the same skill rewritten more narrowly. The rewrite
is checked for leaked values of the items it was shown, then judged on a *fresh* probe drawn by the
same rules without those items, where the winner is judged again beside it: a revision shown the
items it is judged on would be graded on its own homework. It replaces the winner only if the gate
accepts it there and it scores at least as high as the winner on the same fresh items (a tie goes to
the revision: the winner's regressions on the first probe are evidence against it that the revision,
which was shown those items, cannot be scored on). The request
is stored with the run's proposals, so a resume never asks twice. ``loop.revise: false`` turns it off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ..config import RunConfig
from ..environment import Environment
from ..models.base import Model
from ..skills import Skill
from ..tasks import Task
from .decide import GateRunner, Judged
from .proposer import Candidate, masker, propose, revision_prompt, to_candidate

DrawProbe = Callable[[set[str]], Awaitable[list[Task]]]


class Reviser:
    def __init__(self, environment: Environment, proposer: Model, config: RunConfig, gate: GateRunner) -> None:
        self.env, self.proposer, self.config, self.gate = environment, proposer, config, gate

    async def revise(self, key: str, probe: list[Task], skills: dict[str, Skill], winner: Judged, state,
                     save: Callable[[], None], draw_probe: DrawProbe) -> Judged | None:
        """The revision's verdict (on a fresh probe) if it beats ``winner`` there, else None."""
        skill = winner.edit.skill
        if skill is None or winner.tally is None:
            return None
        broken = {item.task_id for item in winner.tally.items if item.regressed}
        fixed = {item.task_id for item in winner.tally.items if item.fixed}
        runs = {e.task_id: e for e in winner.episodes if e is not None}
        shown_broken = [runs[i] for i in sorted(broken) if i in runs][:2]
        shown_fixed = [runs[i] for i in sorted(fixed) if i in runs][:1]
        shown = {e.task_id for e in shown_broken + shown_fixed}
        revision_key = f"{key}:revision"
        if revision_key not in state.proposals:
            shown_tasks = [task for task in probe if task.id in shown]
            mask = masker(self.env, shown_tasks)
            prompt = revision_prompt(skill, shown_broken, shown_fixed, mask=mask)
            proposals, _ = await propose(self.proposer, prompt, 1, temperature=0.0, seed=self.config.seed,
                                         max_tokens=self.config.loop.proposal_tokens)
            forbidden = set().union(*(self.env.forbidden_values(task) for task in shown_tasks))
            candidate = to_candidate(proposals[0], library={**skills, skill.name: skill},
                                     capacity=self.config.loop.capacity + 1, family=skill.tags[0] if skill.tags else "",
                                     forbidden=forbidden, group="revision", mask=mask,
                                     notes=self.env.variable_notes())
            if candidate.edit is not None and candidate.edit.skill is not None:
                revised_skill = candidate.edit.skill.model_copy(update={"name": skill.name, "tags": skill.tags})
                candidate = Candidate(edit=winner.edit.model_copy(update={"skill": revised_skill}), group="revision",
                                      seen=sorted(shown))
            state.proposals[revision_key] = [candidate.model_dump(mode="json")]
            save()
        candidate = Candidate.model_validate(state.proposals[revision_key][0])
        if candidate.edit is None:
            state.notes.append(f"{key}: revision refused ({candidate.refusal})")
            return None
        fresh = await draw_probe(shown)
        if not fresh:
            state.notes.append(f"{key}: revision not judged: no fresh probe items outside what it was shown")
            return None
        baseline = [e for e in await self.gate.run(fresh, skills) if e is not None]
        original = await self.gate.judge(fresh, baseline, skills, winner.edit)
        judged = await self.gate.judge(fresh, baseline, skills, candidate.edit)
        ids = [task.id for task in fresh]
        judged = judged.model_copy(update={"probe": ids})
        to_beat = original.tally.score if original.tally else float("-inf")
        if judged.accepted and judged.tally and judged.tally.score >= to_beat:
            winner.accepted, winner.reason = False, f"superseded by its revision ({winner.reason})"
            return judged
        state.notes.append(f"{key}: revision did not beat the original on a fresh probe ({judged.reason}; "
                           f"the original scored {to_beat:g} there)")
        return None
