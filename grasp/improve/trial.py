"""Trial on the batch: a candidate must fix something it was built for before it costs a probe.

GEPA checks a candidate on the minibatch it came from before a full evaluation; grasp does the same
before its gate. Each valid candidate that brings a skill runs on the failing batch tasks of its
family (the tasks its traces came from: never probe items, since a probe excludes the whole batch).
If it fixes none of them, the proposer is shown what happened, from those dev tasks only (the
request, the head of the response, "answered X, expected Y", and whole what the environment said to
the steps it rejected), and rewrites the skill, up to
``repairs`` times. A candidate that still fixes nothing is refused "at trial" with no probe episode
spent. A candidate that fixes at least one goes on to the gate, and its passing trial episodes are
stored (phase "trial") where induction finds them as passing traces of their family.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from ..environment import Environment, Episode, ProposerBrief
from ..errors import ValidationError
from ..models.base import Model
from ..skills import Skill
from ..store.library import apply_edit
from ..tasks import Task
from .drafts import FORMAT
from .examples import worked_example
from .explore import did_work
from .proposer import Candidate, Proposal, placeholder_notes, placeholders_line, propose, to_candidate
from .repair import checked, no_result_answers
from .traces import complaints

RunTrial = Callable[[list[Task], dict[str, Skill], str], Awaitable[list[Episode]]]
RESPONSE_HEAD = 300
COMPLAINT_CHARS = 600  # a rejection's message in full: it is where an environment says what it takes


def what_happened(episode: Episode, task: Task, mask: Callable[[str], str]) -> str:
    """One trial episode for the proposer: each action, the head of each response, the verdict."""
    lines = [f"Task: {mask(task.instruction)}"]
    for message in episode.messages[2:]:
        text = " ".join(message["content"].split())
        if message["role"] == "assistant":
            lines.append(f"  sent: {mask(text[:300])}")
        else:
            lines.append(f"  got: {mask(text[:RESPONSE_HEAD])}{' ...' if len(text) > RESPONSE_HEAD else ''}")
    lines.append(f"  outcome: {'passed' if episode.passed else episode.reason[:200]}")
    return "\n".join(lines)


def repair_prompt(skill: Skill, shown: list[str], brief: ProposerBrief, notes: str,
                  placeholders: dict[str, str], said: Sequence[str] = ()) -> list[dict[str, str]]:
    """The rewrite request: the skill, what the agent did with it, what the environment answered to the
    steps it did not accept (whole: an HTTP 400's message names the parameter it takes, in any environment),
    the task's placeholders with what each stands for, and a worked example (``brief.example``: an accepted
    skill of the run's once there is one). Without placeholders and example a small proposer wrote the
    instruction's own word, ``<PLACEHOLDERS>``, into its requests and lost the numbered-steps format."""
    answered = ("What the environment answered to the steps it did not accept (its words name the fix):\n"
                + "\n".join(f"- {text}" for text in said) + "\n\n") if said else ""
    user = (f"API: {notes}\n\n" if notes else "") + (
        f"This skill was tried on tasks it was written for and fixed none of them.\n\n"
        f"Skill {skill.name}: {skill.description}\n{skill.body}\n\nWhat the agent did with it:\n\n"
        + "\n\n".join(shown) + "\n\n" + answered
        + "Rewrite the skill (same name) so that the agent gets these tasks right: description 'Use when ...' "
          "naming the kind of task; body 3-5 numbered steps with the exact request to send and how to read the "
          "answer from the response. "
        + (f"{placeholders_line(placeholders)} " if placeholders else "Use placeholders for the task's values. ")
        + f"Never real ids or values. {FORMAT} Example of the format, for a different task:\n" + brief.example)
    return [{"role": "system", "content": brief.persona}, {"role": "user", "content": user}]


def refused(candidate: Candidate, why: str) -> Candidate:
    """``candidate`` refused at trial (the loop records it as such, with no probe)."""
    return candidate.model_copy(update={"edit": None, "trial": "refused", "refusal": f"at trial: {why}"})


class Trial:
    """Runs each candidate on its batch failures and repairs it from the outcomes."""

    def __init__(self, environment: Environment, proposer: Model, run: RunTrial, *, rewrites: int, repairs: int,
                 capacity: int, seed: int, max_tokens: int, everyone: list[Task] | None = None) -> None:
        self.env, self.proposer, self.run = environment, proposer, run
        self.everyone = everyone or []  # the run's dev tasks: whose no-result answer is whose
        # rewrites: from the trial's outcomes; repairs: of a rewrite the environment's check rejects
        self.rewrites, self.repairs = rewrites, repairs
        self.capacity, self.seed, self.max_tokens = capacity, seed, max_tokens

    async def judge(self, key: str, index: int, candidate: Candidate, tasks: list[Task], skills: dict[str, Skill],
                    *, family: str, mask: Callable[[str], str], forbidden: set[str]) -> Candidate:
        """``candidate`` with its trial result: passed on (maybe repaired), or refused at trial."""
        if candidate.edit is None or candidate.edit.skill is None or not tasks:
            return candidate
        forbidden = forbidden | {value for task in tasks for value in self.env.forbidden_values(task)}
        current = candidate
        for attempt in range(self.rewrites + 1):
            try:
                trial_skills = apply_edit(skills, current.edit)
            except ValidationError as error:
                return refused(current, str(error))
            episodes = await self.run(tasks, trial_skills, f"trial:{key}:c{index}:r{attempt}")
            fixed = [e.task_id for e in episodes if e.passed and not self.shortcut(e, tasks)]
            if fixed:
                note = f"fixed {len(fixed)}/{len(tasks)} batch failure(s) at trial"
                return current.model_copy(update={"trial": note + (f" after {attempt} repair(s)" if attempt else "")})
            if attempt == self.rewrites:
                break
            repaired = await self._repair(current, episodes, tasks, skills, family=family, mask=mask,
                                          forbidden=forbidden, attempt=attempt + 1)
            if repaired.edit is None:
                return refused(current, f"fixed none of {len(tasks)} batch failure(s); its repair: {repaired.refusal}")
            current = repaired
        return refused(current, f"fixed none of {len(tasks)} batch failure(s) after {self.rewrites} repair(s)")

    def shortcut(self, episode: Episode, tasks: list[Task]) -> bool:
        """A pass that did no work and gave the environment's trivial answer: a constant earns it, so it is no
        fix of the skill's (on the weather API a draft that said only 'answer "none"' passed a none item with
        no request at trial, and then the gate, learning nothing a constant answer does not know)."""
        task = next((t for t in tasks if t.id == episode.task_id), None)
        trivial = self.env.trivial_answer(task) if task is not None else None
        return trivial is not None and episode.answer == trivial and not did_work(episode)

    async def _repair(self, candidate: Candidate, episodes: list[Episode], tasks: list[Task],
                      skills: dict[str, Skill], *, family: str, mask: Callable[[str], str], forbidden: set[str],
                      attempt: int) -> Candidate:
        skill = candidate.edit.skill
        by_id = {task.id: task for task in tasks}
        shown = [what_happened(e, by_id[e.task_id], mask) for e in episodes[:3] if e.task_id in by_id]
        placeholders = placeholder_notes(self.env, tasks)
        brief = self.env.proposer_brief().model_copy(update={"example": worked_example(self.env, skills, family)})
        said = [mask(text) for text in complaints(episodes[:3], chars=COMPLAINT_CHARS)]
        prompt = repair_prompt(skill, shown, brief, self.env.protocol_notes()[:1500], placeholders, said)
        [reply], _ = await propose(self.proposer, prompt, 1, temperature=0.0, seed=self.seed + attempt,
                                   max_tokens=self.max_tokens)
        edit = candidate.edit

        def validate(draft: Proposal | str) -> Candidate:
            if isinstance(draft, Proposal):  # a rewrite keeps the proposed edit's kind, name and target
                draft = draft.model_copy(update={"action": edit.kind.value, "name": skill.name, "target": edit.target})
            return to_candidate(draft, library=skills, capacity=self.capacity, family=family, forbidden=forbidden,
                                group=candidate.group, mask=mask, notes=self.env.variable_notes())

        repaired = validate(reply)
        if repaired.edit is None:
            return repaired
        # A rewrite whose request the environment rejects gets the environment's own correction, as any draft does.
        repaired = await checked(repaired, reply, prompt, environment=self.env, proposer=self.proposer,
                                 validate=validate, repairs=self.repairs, seed=self.seed + 10 * attempt,
                                 max_tokens=self.max_tokens, known=placeholders,
                                 none_answers=no_result_answers(self.env, tasks, self.everyone or tasks))
        if repaired.edit is None:
            return repaired.model_copy(update={"refusal": f"its rewrite: {repaired.refusal}"})
        return repaired.model_copy(update={"origin": "trial-repaired", "seen": candidate.seen})
