"""Grounded induction: a candidate skill built mechanically from a trace that passed.

Agent Workflow Memory's idea (workflows induced from successful trajectories,
arXiv 2409.07429), put behind grasp's gate. A small model can copy a correct
pattern even when it cannot invent one, so the steps are never written by a
model: they are the actions that worked, with every value that came from the
task (the environment's declared ``Task.variables``) replaced by ``<NAME>``, and
any remaining concrete value of the task (an answer, a dose) by ``<VALUE>``; the answering action
always answers ``<VALUE>`` (a no-result constant the instruction prescribes survives only as a condition). The
model writes only the name, the trigger description and one sentence of advice;
when its reply is unusable or leaks a value, a template writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from ..agent.search import SearchCalls
from ..edits import Edit, EditKind
from ..environment import Environment, Episode
from ..errors import ModelError, ModelUnavailable
from ..models.base import Model, structured
from ..skills import MAX_NAME, Skill, normalize_name
from ..tasks import Task
from .proposer import Candidate, abstractor, leaked_values, similar_skill, standalone
from .shorten import shortest
from .templates import prompt

MAX_STEP_CHARS = 400
MAX_STEPS = 6


class InducedText(BaseModel):
    """The only part of an induced skill a model writes."""

    name: str = Field(max_length=48, description="short hyphenated name of what the steps do")
    description: str = Field(min_length=10, max_length=300, description="'Use when ...': the kind of task")
    advice: str = Field(default="", max_length=200, description="one sentence: what to watch out for")


def workflow(episode: Episode, task: Task, environment: Environment,
             spellings: dict[str, str] | None = None) -> list[str]:
    """The passing episode's accepted actions, abstracted; the final answer last, always as a placeholder.
    ``spellings``: a shorter form of an action that the environment answers the same way
    (``grasp.improve.shorten``), written in its place."""
    abstract = abstractor([task])
    # Values of this task that must not reach a skill: its forbidden values, and every answer it gave.
    answers = sorted({str(value) for value in episode.answer or [] if str(value)}, key=lambda value: (-len(value), value))
    leftovers = sorted(environment.forbidden_values(task) | set(answers), key=lambda value: (-len(value), value))
    values = [standalone(value) for value in leftovers]
    replies = sent(episode)
    steps = []
    for number, (reply, ok) in enumerate(replies):
        if not ok:
            continue  # a request the environment refused teaches nothing
        if episode.answer is not None and number == len(replies) - 1:
            text = environment.mask_identifiers(abstract(reply.strip()))
            steps.append(answer_step(text, answers, task, task.no_result)[:MAX_STEP_CHARS])
            continue
        text = environment.mask_identifiers(abstract((spellings or {}).get(reply.strip(), reply).strip()))
        for pattern in values:
            text = pattern.sub("<VALUE>", text)
        steps.append(text[:MAX_STEP_CHARS])
    return steps[-MAX_STEPS:]


def sent(episode: Episode) -> list[tuple[str, bool]]:
    """Each reply of ``episode`` (the model's, or an opening sent in its place) and whether it was accepted."""
    return [(turn.action.text, turn.step.accepted) for turn in episode.trace]


def requests(episode: Episode) -> list[str]:
    """The accepted actions of ``episode`` before its answer, once each, as sent."""
    replies = sent(episode)
    before = replies[:-1] if episode.answer is not None else replies
    return list(dict.fromkeys(reply.strip() for reply, ok in before if ok))


def answer_step(text: str, answers: list[str], task: Task, none_answer: list[Any] | None = None) -> str:
    """The answering action with its values as ``<VALUE>``: an answer is this task's, never the next one's.

    One exception keeps its literal: a constant the instruction itself prescribes (a "-1 if there is
    none"). It stays only as the condition it was prescribed for, never as the unconditional answer:
    a skill that says "answer -1" would teach the shortcut the gate must not let in.

    The condition is written whichever outcome the pass had: a pass that answered a value gets it from
    the task's no-result answer (``Task.no_result``), when the instruction states it too.
    A skill induced from a value pass that says only "answer <VALUE>" is read by a small executor as
    "always answer a number" (dev, weather elevation: with it, 0 of 4 "not on record" items answered -1;
    with the condition, 4 of 4, and 8 of 8 values still right)."""
    general = text
    prescribed = [value for value in answers if standalone(value).search(task.instruction)]
    for value in answers:
        general = standalone(value).sub("<VALUE>", general)
    if prescribed:
        return (f"If the result has no match (the case the task prescribes {', '.join(prescribed)} for): {text}. "
                f"Otherwise: {general}")
    if none_answer is not None and len(none_answer) == 1 and general.count("<VALUE>") == 1:
        constant = str(none_answer[0])
        if standalone(constant).search(task.instruction):
            return (f"If the result has no match (the case the task prescribes {constant} for): "
                    f"{general.replace('<VALUE>', constant)}. Otherwise: {general}")
    return general


def template_text(task: Task, environment: Environment) -> InducedText:
    """The fallback: name from the family, trigger from the abstracted instruction."""
    instruction = environment.mask_identifiers(abstractor([task])(task.instruction))
    trigger = instruction.split("?")[0].split(". ")[0].strip().rstrip(".")
    return InducedText(name=f"{task.family}-workflow", description=f"Use for tasks like: {trigger}."[:300],
                       advice="")


def render(text: InducedText, steps: list[str], placeholders: dict[str, str]) -> str:
    lines = ["Steps that solved such a task. Send them in order, putting this task's values in place of the "
             "<PLACEHOLDERS>:"]
    lines += [f"{number}. {step}" for number, step in enumerate(steps, 1)]
    used = [name for name in placeholders if any(f"<{name}>" in step for step in steps)]
    if used:
        lines.append("Placeholders: " + "; ".join(f"<{name}> = {placeholders[name]}" for name in used) + ".")
    if any("<VALUE>" in step for step in steps):
        lines.append("<VALUE> = the value read from the previous result.")
    if text.advice:
        lines.append(text.advice)
    return "\n".join(lines)


async def induce(
    episode: Episode,
    task: Task,
    environment: Environment,
    model: Model | None,
    *,
    library: dict[str, Skill],
    capacity: int,
    group: str,
    seed: int = 0,
    leaks: Callable[[str], list[str]] | None = None,
    search: SearchCalls | None = None,
    notes: dict[str, str] | None = None,
) -> Candidate:
    """A candidate skill from ``episode`` (which passed ``task``), or a refusal that says why. With ``search``,
    each step is written in its shortest spelling the environment answers the same way. ``notes``: what each
    placeholder stands for (the environment's hints), written into the skill."""
    spellings = {reply: (await shortest(search, task, reply) if search else reply) for reply in requests(episode)}
    steps = workflow(episode, task, environment, spellings)
    if len(steps) < (2 if episode.answer is not None else 1):
        return Candidate(edit=None, refusal="induction: the passing trace has no accepted action before its answer",
                         group=group, origin="induced", seen=[task.id])
    forbidden = environment.forbidden_values(task)
    leaked_in = leaks or (lambda text: leaked_values(forbidden, text))
    fallback = template_text(task, environment)
    text = fallback
    if model is not None:
        text = await _named_by_model(model, steps, task, environment, seed) or fallback
        if leaked_in(f"{text.name}\n{text.description}\n{text.advice}"):
            text = fallback
    body = render(text, steps, {**{name: f"this task's {name.lower()}" for name in task.variables},
                                **(notes or {})})
    if leaked := leaked_in(body):
        return Candidate(edit=None, refusal=f"induction: steps still hold task values {leaked[:3]}", group=group,
                         origin="induced", seen=[task.id])
    name = normalize_name(text.name)[:MAX_NAME] or normalize_name(fallback.name)
    if similar := similar_skill(library, task.family, text.description):
        name = similar  # a rewrite of the skill it would duplicate, never a competing second one
    kind = EditKind.MODIFY if name in library else EditKind.ADD
    if kind is EditKind.ADD and len(library) >= capacity:
        return Candidate(edit=None, refusal=f"induction: ADD at capacity ({capacity})", group=group,
                         origin="induced", seen=[task.id])
    skill = Skill(name=name, description=text.description, body=body, tags=[task.family])
    return Candidate(edit=Edit(kind=kind, skill=skill, rationale="induced from a passing trace"), group=group,
                     origin="induced", seen=[task.id])


async def _named_by_model(model: Model, steps: list[str], task: Task, environment: Environment,
                          seed: int) -> InducedText | None:
    instruction = environment.mask_identifiers(abstractor([task])(task.instruction))
    messages = [
        {"role": "system", "content": prompt("name-procedure-system")},
        {"role": "user", "content": prompt("name-procedure", instruction=instruction,
                                           steps="\n".join(f"{i}. {step}" for i, step in enumerate(steps, 1)))},
    ]
    try:
        text, _ = await structured(model, messages, InducedText, max_tokens=160, temperature=0.0, seed=seed)
    except ModelUnavailable:
        raise
    except ModelError:
        return None
    return text if text.description.lower().startswith("use when") else None
