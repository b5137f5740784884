"""One refine loop for every candidate skill, whoever drafted it: mend, critics, then ask the writer.

A candidate is first mended by hand (what the core and the environment can correct themselves, with no
model call), then heard by its critics in order: the lint (the environment's ``check_skill``, and the
core's own checks of a no-result answer and of placeholders) and the trial (the candidate run on the
batch failures it was built for, GEPA's minibatch check: a candidate that fixes none of them costs no
probe). The first complaint goes back to the writer with the skill, and the candidate's rewrite goes
through the same loop, within one budget of asks (``loop.refinements``). A rewrite that repeats the
mistake the lint named is refused at once: a writer that did not listen once rarely does the second time.

This replaces four loops that each asked the writer for a rewrite in their own words (the lint's repair,
the trial's rewrite, the revision of a winner that broke probe items, a draft's re-parse): on the recorded
runs none of the revisions won, and the lint's repairs ended with the mistake repeated in 10 of 14.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from ..agent.selection import Selection, select_skills
from ..environment import Environment, Episode, Hints, ProposerBrief
from ..errors import ValidationError
from ..models.base import Model
from ..skills import Skill
from ..store.library import apply_edit
from ..tasks import Task
from .drafts import FORMAT, Proposal
from .examples import worked_example
from .explore import did_work
from .lint import lint, mended_by_hand
from .proposer import Candidate, abstractor, placeholder_notes, placeholders_line, propose, to_candidate
from .templates import prompt
from .traces import complaints

RunTrial = Callable[[list[Task], dict[str, Skill], str], Awaitable[list[Episode]]]
RESPONSE_HEAD = 300
COMPLAINT_CHARS = 600  # a rejection's message in full: it is where an environment says what it takes
FIXED_NONE = prompt("rewrite-fixed-none")


@dataclass
class Refinement:
    """What one decision's candidates are refined against: its batch failures, its family, what it may not say."""

    key: str
    tasks: list[Task]  # the batch failures of the decision's family: where the trial runs
    skills: dict[str, Skill]
    family: str
    mask: Callable[[str], str]
    forbidden: set[str]
    none_answers: tuple[Collection[Any], Collection[Any]]  # (these tasks' no-result answers, every task's)


def what_happened(episode: Episode, task: Task, mask: Callable[[str], str], *, feedback: bool = True) -> str:
    """One trial episode for the writer: each action, the head of each response, the verdict."""
    lines = [f"Task: {mask(task.instruction)}"]
    for turn in episode.trace:
        lines.append(f"  sent: {mask(' '.join(turn.action.text.split())[:300])}")
        if not turn.step.done:
            text = " ".join(turn.read.split())
            lines.append(f"  got: {mask(text[:RESPONSE_HEAD])}{' ...' if len(text) > RESPONSE_HEAD else ''}")
    outcome = "passed" if episode.passed else episode.reason[:200] if feedback else "failed"
    lines.append(f"  outcome: {outcome}")
    return "\n".join(lines)


def rewrite_prompt(skill: Skill, finding: str, shown: Sequence[str], said: Sequence[str], brief: ProposerBrief,
                   notes: str, placeholders: dict[str, str]) -> list[dict[str, str]]:
    """The one request a critic's finding becomes: the skill, what the critic found, what the agent did with it
    (a trial), what the environment answered to the steps it did not accept (whole: its words name the fix),
    the task's placeholders and a worked example. Without placeholders and example a small writer put the
    instruction's own word, ``<PLACEHOLDERS>``, into its requests and lost the numbered-steps format."""
    did = prompt("rewrite-did", shown="\n\n".join(shown)) + "\n\n" if shown else ""
    answered = prompt("rewrite-answered", lines="\n".join(f"- {text}" for text in said)) + "\n\n" if said else ""
    user = prompt("rewrite", api=f"API: {notes}\n\n" if notes else "", finding=finding, name=skill.name,
                  description=skill.description, body=skill.body, did=did, answered=answered,
                  placeholders=placeholders_line(placeholders) if placeholders else prompt("rewrite-no-placeholders"),
                  format=FORMAT, example=brief.example)
    return [{"role": "system", "content": brief.persona}, {"role": "user", "content": user}]


def refused(candidate: Candidate, why: str, *, at_trial: bool) -> Candidate:
    if at_trial:
        return candidate.model_copy(update={"edit": None, "refusal": f"at trial: {why}", "refused_at": "trial"})
    return candidate.model_copy(update={"edit": None, "refusal": why, "refused_at": "lint"})


class Refiner:
    """Mend, lint, trial, ask the writer: one loop, one budget of asks per candidate."""

    def __init__(self, environment: Environment, hints: Hints, writer: Model, run_trial: RunTrial, *, budget: int,
                 trial: bool, capacity: int, seed: int, max_tokens: int, feedback: bool = True,
                 selection: Selection = Selection()) -> None:
        self.env, self.hints, self.writer, self.run_trial = environment, hints, writer, run_trial
        self.feedback, self.selection = feedback, selection
        self.budget, self.trial, self.capacity, self.seed, self.max_tokens = budget, trial, capacity, seed, max_tokens

    async def refine(self, index: int, candidate: Candidate, on: Refinement) -> Candidate:
        """``candidate`` as its critics leave it: passed on (maybe rewritten), or refused with the reason."""
        if candidate.edit is None or candidate.edit.skill is None:
            return candidate
        known = placeholder_notes(self.hints, on.tasks)
        current, asks, last_lint = candidate, 0, None
        while True:
            current = self._routed(self._mended(current, on, known), on)
            finding, at_trial, shown, said = lint(self.hints, current.edit.skill, known, on.none_answers), False, [], []
            if finding is not None and finding == last_lint:
                return refused(current, f"rewrite {asks} repeats the mistake the environment named: {finding[:200]}",
                               at_trial=False)
            last_lint = finding
            if finding is None:
                if not self.trial or not on.tasks:
                    return current
                try:
                    episodes = await self.run_trial(on.tasks, apply_edit(on.skills, current.edit),
                                                    f"trial:{on.key}:c{index}:r{asks}")
                except ValidationError as error:
                    return refused(current, str(error), at_trial=True)
                fixed = [e for e in episodes if e.passed and self._real(e, on.tasks)]
                if fixed:
                    note = f"fixed {len(fixed)}/{len(on.tasks)} batch failure(s) at trial"
                    return current.model_copy(update={"trial": note + (f" after {asks} rewrite(s)" if asks else "")})
                by_id = {task.id: task for task in on.tasks}
                finding, at_trial = FIXED_NONE, True
                shown = [what_happened(e, by_id[e.task_id], on.mask, feedback=self.feedback) for e in episodes[:3] if e.task_id in by_id]
                said = [on.mask(text) for text in complaints(episodes[:3], chars=COMPLAINT_CHARS)]
            if asks == self.budget:
                why = (f"fixed none of {len(on.tasks)} batch failure(s)" if at_trial
                       else f"the environment still rejects it: {finding[:200]}")
                return refused(current, why + (f" after {asks} rewrite(s)" if asks else ""), at_trial=at_trial)
            asks += 1
            rewritten = await self._ask(current, finding, shown, said, on, known, asks)
            if rewritten.edit is None:
                return refused(current, f"its rewrite {asks}: {rewritten.refusal}", at_trial=at_trial)
            current = rewritten

    def _mended(self, candidate: Candidate, on: Refinement, known: Collection[str]) -> Candidate:
        """``candidate`` with what can be corrected without a model corrected (the core's own two problems and
        the environment's ``mend_skill``); itself when that changes nothing or the mend does not validate."""
        skill = candidate.edit.skill
        draft = Proposal(action=candidate.edit.kind.value, name=skill.name, target=candidate.edit.target,
                         description=skill.description, body=skill.body)
        mended = mended_by_hand(draft, known, on.none_answers, self.hints.mend_skill)
        if mended is None:
            return candidate
        fixed = self._validated(mended, candidate, on)
        return fixed if fixed.edit is not None else candidate

    def _shown_to(self, skill: Skill, tasks: Sequence[Task]) -> bool:
        """Whether the run's router would show ``skill`` (alone) to any of ``tasks``."""
        ignore = self.env.common_words()
        return any(select_skills([skill], task, 1, ignore=ignore, routing=self.selection.routing) for task in tasks)

    def _routed(self, candidate: Candidate, on: Refinement) -> Candidate:
        """``candidate`` with a description its own failures are routed to. A router that reads only words (a
        deployed agent's) never shows a skill whose description shares too few words with the tasks it was written
        for, and its trial then runs without it (seen on the weather network: every trial episode of two
        families' candidates showed no skill). Where that is so, the description becomes the first failure's own
        instruction with its values as placeholders, done by hand; itself when it is routed, or when the new
        description is not routed either or does not validate."""
        skill = candidate.edit.skill
        if self.selection.routing == "family" or not on.tasks or self._shown_to(skill, on.tasks):
            return candidate
        asked = self.env.mask_identifiers(abstractor(on.tasks[:1])(on.tasks[0].instruction))
        draft = Proposal(action=candidate.edit.kind.value, name=skill.name, target=candidate.edit.target,
                         description=f"Use when asked: {' '.join(asked.split())}"[:300], body=skill.body)
        routed = self._validated(draft, candidate, on)
        return routed if routed.edit is not None and self._shown_to(routed.edit.skill, on.tasks) else candidate

    def _validated(self, draft: Proposal | str, candidate: Candidate, on: Refinement) -> Candidate:
        edit, skill = candidate.edit, candidate.edit.skill
        if isinstance(draft, Proposal):  # a rewrite keeps the proposed edit's kind, name and target
            draft = draft.model_copy(update={"action": edit.kind.value, "name": skill.name, "target": edit.target})
        library = {name: s for name, s in on.skills.items() if name != skill.name or edit.kind.value != "ADD"}
        made = to_candidate(draft, library=library, capacity=self.capacity, family=on.family, forbidden=on.forbidden,
                            group=candidate.group, mask=on.mask, notes=self.hints.variable_notes())
        return made.model_copy(update={"origin": candidate.origin, "seen": candidate.seen})

    async def _ask(self, candidate: Candidate, finding: str, shown: list[str], said: list[str], on: Refinement,
                   placeholders: dict[str, str], attempt: int) -> Candidate:
        example = worked_example(self.env, self.hints, on.skills, on.family)
        brief = self.hints.proposer_brief().model_copy(update={"example": example})
        prompt = rewrite_prompt(candidate.edit.skill, finding, shown, said, brief, self.env.instructions()[:1500],
                                placeholders)
        [reply], _ = await propose(self.writer, prompt, 1, temperature=0.0, seed=self.seed + attempt,
                                   max_tokens=self.max_tokens)
        rewritten = self._validated(reply, candidate, on)
        if rewritten.edit is None:
            return rewritten
        return rewritten.model_copy(update={"origin": "refined"})

    def _real(self, episode: Episode, tasks: list[Task]) -> bool:
        """A pass that is the skill's doing: not the environment's trivial answer given with no work done, which
        a constant earns (on the weather API a draft that said only 'answer "none"' passed a none item with no
        request). Work that ended in the trivial answer counts here: the gate judges whether the search was right."""
        task = next((t for t in tasks if t.id == episode.task_id), None)
        trivial = task.no_result if task is not None else None
        return trivial is None or episode.answer != trivial or did_work(episode)
