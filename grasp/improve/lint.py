"""The lint of a candidate skill, and what of it can be mended by hand.

The environment's ``check_skill`` says what it would reject in a skill's requests and why; its message
goes to the writer (grasp/improve/refine.py). Two checks are the core's own, for every environment. A skill that gives another
kind of task's no-result answer (``-1`` copied from another task's example where
these tasks say to answer "not found") breaks exactly
the items a do-nothing policy passes, and a small probe may hold none of them to
show it; each task's ``no_result`` says which answer is whose. And a
placeholder given as a
request's parameter value (``=<NAME>``, ``=ge<NAME>``) must be one of the task's values or be
defined in the skill (``<NAME> = ...``). A made-up one (``account=<ACCOUNT_ID>``
beside the name the task gives) is filled by the agent with an invented value,
and the request then matches nothing on every task.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from typing import Any

from ..environment import Hints
from ..skills import Skill, defined_placeholders
from ..tasks import Task
from .drafts import Proposal
from .proposer import Candidate

PARAMETER_PLACEHOLDER = re.compile(r"=[^&\s<>=]*<([A-Za-z][\w-]*)>")  # in a parameter's value: =<X>, =ge<X>


def unknown_placeholders(text: str, known: Collection[str]) -> str | None:
    """What is wrong with the parameter placeholders in ``text`` that are neither one of ``known`` (the
    task's values) nor defined in the skill (``<NAME> = ...`` or ``<NAME> is ...``); None when there is none."""
    unknown = sorted(set(PARAMETER_PLACEHOLDER.findall(text)) - set(known) - defined_placeholders(text))
    if not unknown or not known:
        return None
    listed = ", ".join(f"<{name}>" for name in sorted(known))
    return (f"{', '.join(f'<{name}>' for name in unknown)} is none of the task's values ({listed}) and the skill "
            "does not say where it comes from, so the agent will make a value up and the request will match "
            "nothing: use only the task's placeholders, and drop a filter the task gives no value for")


def _mentions(text: str, value: Any) -> bool:
    if isinstance(value, str):
        return value.lower() in text.lower()
    return re.search(rf"(?<![\w.]){re.escape(json.dumps(value))}(?![\w.])", text) is not None


def foreign_none_answer(text: str, own: Collection[Any], others: Collection[Any]) -> str | None:
    """What is wrong when ``text`` gives one of ``others`` (other tasks' no-result answers) and none of
    ``own`` (these tasks' no-result answers, ``Task.no_result``); None otherwise."""
    if not own or any(_mentions(text, value) for value in own):
        return None
    wrong = [value for value in others if value not in own and _mentions(text, value)]
    if not wrong:
        return None
    return (f"the skill answers {json.dumps(wrong[0])} when nothing is found, but for these tasks the answer when "
            f"nothing is found is {json.dumps(next(iter(own)))}, as the task says: write that instead")


def no_result_answers(tasks: Collection[Task], everyone: Collection[Task]) -> tuple[list[Any], list[Any]]:
    """(``tasks``' no-result answers, every task's), in first-seen order, for :func:`foreign_none_answer`."""

    def answers(group: Collection[Task]) -> list[Any]:
        found: list[Any] = []
        for task in group:
            found += [value for value in task.no_result or [] if value not in found]
        return found

    return answers(tasks), answers(everyone)


QUERY = re.compile(r"\?([^\s?]+)")  # the query string of a request in a skill's text


def without_unknown_parameters(text: str, known: Collection[str]) -> str:
    """``text`` with every request parameter whose value holds an unknown placeholder dropped.

    The repair the message asks for ("drop a filter the task gives no value for"), done instead of asked:
    a small proposer asked to drop one parameter rewrites the whole skill and often invents a literal in
    its place (``ge<2024-01-01T00:00:00>``)."""
    if not known:
        return text
    allowed = set(known) | defined_placeholders(text)

    def keep(parameter: str) -> bool:
        names = PARAMETER_PLACEHOLDER.findall("=" + parameter.split("=", 1)[1]) if "=" in parameter else []
        return all(name in allowed for name in names)

    def mend(match: re.Match[str]) -> str:
        query = match.group(1)
        tail = query[len(query.rstrip(".,;:)")):]  # a sentence's punctuation after the request stays
        kept = [parameter for parameter in query[:len(query) - len(tail)].split("&") if keep(parameter)]
        return ("?" + "&".join(kept) if kept else "") + tail

    return QUERY.sub(mend, text)


def with_own_none_answer(text: str, own: Collection[Any], others: Collection[Any]) -> str:
    """``text`` with another kind of task's no-result answer replaced by these tasks' own, where
    :func:`foreign_none_answer` finds one (the same fix asked of the proposer, done instead)."""
    if foreign_none_answer(text, own, others) is None:
        return text
    own_value = next(iter(own))
    quoted, bare = json.dumps(own_value), own_value if isinstance(own_value, str) else json.dumps(own_value)
    for value in others:
        if value in own:
            continue
        if isinstance(value, str):  # quoted in an answer, or named in a sentence
            text = re.sub(re.escape(json.dumps(value)), lambda _: quoted, text, flags=re.IGNORECASE)
            text = re.sub(re.escape(value), lambda _: bare, text, flags=re.IGNORECASE)
        else:
            text = re.sub(rf"(?<![\w.]){re.escape(json.dumps(value))}(?![\w.])", lambda _: quoted, text)
    return text


def skill_text(candidate: Candidate) -> str | None:
    skill = candidate.edit.skill if candidate.edit else None
    return f"{skill.description}\n{skill.body}" if skill else None


def mended_by_hand(proposal: Proposal, known: Collection[str],
                   none_answers: tuple[Collection[Any], Collection[Any]],
                   environment_mend: Callable[[str], str]) -> Proposal | None:
    """The proposal with the core's own two problems and what the environment corrects by itself
    (``Hints.mend_skill``) fixed without a model call, or None when that changes nothing (what is
    left is asked of the proposer)."""
    def mend(text: str) -> str:
        return environment_mend(with_own_none_answer(without_unknown_parameters(text, known), *none_answers))

    body, description = mend(proposal.body), mend(proposal.description)
    if (body, description) == (proposal.body, proposal.description):
        return None
    return proposal.model_copy(update={"body": body, "description": description})


def lint(hints: Hints, skill: Skill, known: Collection[str],
         none_answers: tuple[Collection[Any], Collection[Any]]) -> str | None:
    """What is wrong with ``skill``, in words its writer can act on; None when nothing is.

    The environment's ``check_skill`` (its hints) first, then the core's two checks. The no-result answer is looked for
    in the steps alone: a description often repeats the task's own words (its own no-result answer) above a
    step that answers another family's, and the executor answers what the steps say."""
    text = f"{skill.description}\n{skill.body}"
    return (hints.check_skill(text) or foreign_none_answer(skill.body, *none_answers)
            or unknown_placeholders(text, known))
