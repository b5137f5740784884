"""Where candidate edits come from: one object per source, each with one method.

A decision hands every configured source the same :class:`Contrast` (the failure group, its
traces, a passing trace when one exists, the library) and pools what they return; the gate then
judges them alike. ``loop.sources`` in the config names the sources, so an ablation (proposer
only, induction only, reflection notes) is a different list, not a new branch in the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from pydantic import BaseModel, Field

from ..agent.search import SearchCalls
from ..config import RunConfig
from ..edits import Edit, EditKind
from ..environment import Environment, Episode, Hints
from ..errors import ModelError, ModelUnavailable
from ..models.base import Model, structured
from ..skills import Skill
from ..tasks import Task
from .examples import worked_example
from .induction import induce
from .proposer import Candidate, build_prompt, placeholder_notes, propose, to_candidate
from .templates import prompt
from .traces import compress


@dataclass
class Contrast:
    """What one decision learns from."""

    key: str
    label: str
    family: str
    failing: list[Episode]
    passing: list[Episode]
    skills: dict[str, Skill]
    tasks: dict[str, Task]
    seen: list[str]
    mask: Callable[[str], str]
    seed: int
    notes: list[str] = field(default_factory=list)  # what the sources want recorded in the run's notes
    # The run's door to the environment for shortening an induced step: replayable actions only,
    # each call stored and counted. None: no search, the actions stay as the trace has them.
    search: SearchCalls | None = None


class CandidateSource(Protocol):
    name: str

    async def candidates(self, contrast: Contrast) -> list[Candidate]:
        """Candidate edits for this decision (refusals included, with their reasons)."""


class ProposerSource:
    """GRASP's comparative proposer: K drafts from failing traces next to a passing one."""

    name = "proposer"

    def __init__(self, environment: Environment, hints: Hints, proposer: Model, config: RunConfig,
                 evidence: Callable[[], dict[str, str]], on_note: Callable[[str], None]) -> None:
        self.env, self.hints, self.proposer, self.config = environment, hints, proposer, config
        self.evidence, self.on_note = evidence, on_note

    def _budget(self) -> int:
        n_ctx = self.config.proposer.n_ctx if self.config.proposer else self.config.executor.n_ctx
        return int(n_ctx * 4 * 0.45)  # characters for traces: under half the context, at ~4 chars/token

    async def candidates(self, contrast: Contrast) -> list[Candidate]:
        first = contrast.tasks.get(contrast.failing[0].task_id) if contrast.failing else None
        passing = contrast.passing[0] if contrast.passing else None
        example = worked_example(self.env, self.hints, contrast.skills, contrast.family, passing=passing,
                                 task=contrast.tasks.get(passing.task_id) if passing else None)
        brief = self.hints.proposer_brief().model_copy(update={"example": example})
        prompt, cut = build_prompt(contrast.label, contrast.failing, contrast.passing, contrast.skills,
                                   self.evidence(), self.config.capacity, self.env.instructions()[:1500],
                                   budget_chars=self._budget(), brief=brief, mask=contrast.mask,
                                   placeholders=placeholder_notes(self.hints, [first] if first else []),
                                   instruction=first.instruction if first else "",
                                   feedback=self.config.advanced.grader_feedback)
        if cut:
            contrast.notes.append(f"{contrast.key}: {cut} trace(s) cut from the proposer prompt to fit the budget")
        self.on_note(f"{contrast.key}: proposing for '{contrast.label}' ({len(contrast.failing)} failure(s), "
                     f"{contrast.family})")
        proposals, _ = await propose(self.proposer, prompt, self.config.loop.candidates,
                                     temperature=self.config.loop.proposal_temperature, seed=contrast.seed,
                                     max_tokens=self.config.loop.proposal_tokens)
        forbidden = set().union(*(self.env.forbidden_values(contrast.tasks[i]) for i in contrast.seen
                                  if i in contrast.tasks))
        # Each draft as written; the refine loop (grasp/improve/refine.py) mends, lints, tries and rewrites it.
        return [to_candidate(reply, library=contrast.skills, capacity=self.config.capacity,
                             family=contrast.family, forbidden=forbidden, group=contrast.label, mask=contrast.mask,
                             notes=self.hints.variable_notes()) for reply in proposals]


class InductionSource:
    """Grounded induction (AWM's idea): a skill built from the passing trace's accepted actions."""

    name = "induction"

    def __init__(self, environment: Environment, hints: Hints, namer: Model | None, config: RunConfig) -> None:
        self.env, self.hints, self.namer, self.config = environment, hints, namer, config

    async def candidates(self, contrast: Contrast) -> list[Candidate]:
        if not contrast.passing or contrast.passing[0].task_id not in contrast.tasks:
            return []
        passing = contrast.passing[0]
        return [await induce(passing, contrast.tasks[passing.task_id], self.env, self.namer,
                             library=contrast.skills, capacity=self.config.capacity, group=contrast.label,
                             seed=self.config.seed, search=contrast.search, notes=self.hints.variable_notes())]


class Lesson(BaseModel):
    lesson: str = Field(min_length=10, max_length=240, description="one sentence the agent should remember")


NOTES_SKILL = "reflection-notes"


class ReflectionSource:
    """A memory baseline in the style of Reflexion and ExpeL's insights: each decision appends one
    lesson from the failures to a single notes skill, oldest out beyond ``memory_notes``."""

    name = "reflection"

    def __init__(self, model: Model, config: RunConfig) -> None:
        self.model, self.config = model, config

    async def candidates(self, contrast: Contrast) -> list[Candidate]:
        traces = "\n\n".join(contrast.mask(compress(e, limit=700, feedback=self.config.advanced.grader_feedback)) for e in contrast.failing[:2])
        messages = [{"role": "system", "content": prompt("reflection-system")},
                     {"role": "user", "content": prompt("reflection", traces=traces, label=contrast.label)}]
        try:
            reply, _ = await structured(self.model, messages, Lesson, max_tokens=120, temperature=0.0,
                                        seed=contrast.seed)
        except ModelUnavailable:
            raise
        except ModelError as error:
            return [Candidate(edit=None, refusal=f"unusable reply: {error}", group=contrast.label,
                              origin="reflection")]
        return [Candidate(edit=remember(contrast.skills, contrast.mask(reply.lesson), self.config.loop.memory_notes),
                          group=contrast.label, origin="reflection")]


def remember(skills: dict[str, Skill], lesson: str, capacity: int) -> Edit:
    """The edit that appends ``lesson`` to the notes skill, dropping the oldest notes beyond ``capacity``."""
    current = skills.get(NOTES_SKILL)
    notes = [line[2:] for line in current.body.splitlines() if line.startswith("- ")] if current else []
    notes = (notes + [lesson.strip()])[-capacity:]
    skill = Skill(name=NOTES_SKILL, description="Use always: lessons from earlier failures.",
                  body="\n".join(f"- {note}" for note in notes), tags=["all"])
    return Edit(kind=EditKind.MODIFY if current else EditKind.ADD, skill=skill, rationale="reflection")


def sources_from(config: RunConfig, environment: Environment, hints: Hints, proposer: Model, *,
                 evidence: Callable[[], dict[str, str]], on_note: Callable[[str], None]) -> list[CandidateSource]:
    made: dict[str, CandidateSource] = {
        "induction": InductionSource(environment, hints, proposer, config),
        "proposer": ProposerSource(environment, hints, proposer, config, evidence, on_note),
        "reflection": ReflectionSource(proposer, config),
    }
    return [made[name] for name in config.loop.sources]
