"""Amending a rejected action from what the environment said about it, with no model.

A weak executor that has never seen a request work sends one with made-up parameters, reads the
rejection ("unknown parameter 'city'; allowed: page, per_page, q, region, sort") and gives up. The
words it needed were in that answer. This module searches the neighbourhood of the rejected action
that the rejection itself spans, as the environment's protocol draws it (``Protocol.variants``: for a
one-line HTTP request, the query pair the answer points at dropped, renamed to a word of the answer, or
given one as its value); an edit that draws a new complaint (not about the word it brought in) is progress
and is amended in turn.
Every variant is tried on a fresh session of the same task, so the environment, not a model, decides,
through ``grasp.agent.search.SearchCalls``: only a variant the environment calls replayable is sent,
and every one sent is stored and counted in the run's cost.

What comes out is the set of actions the environment accepted, one per distinct answer, the cheapest
first (a dropped key is free, a word borrowed from an answer costs one). Nothing here knows what the
task needs: which accepted action was the right one is for the executor to show by answering from its result, and for the grader to judge (``grasp.improve.explore``).

What an action looks like is the protocol's business, and whether a variant may be sent at all is its word
too (``Protocol.replayable``), never this module's.
"""

from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from itertools import count

from ..agent.search import SearchCalls, accepted
from ..tasks import Task

MAX_CHECKS = 1500  # environment calls per amended action; each is one fresh session and one step
MAX_EDITS = 8
WORD = re.compile(r"-?[A-Za-z_][\w.:-]*")
QUOTED = re.compile(r"'([^'\s]+)'|\"([^\"\s]+)\"")


@dataclass(frozen=True)
class Amendment:
    """An accepted variant of a rejected action: the action, and what the environment answered."""

    action: str
    observation: str


def named_words(message: str) -> list[str]:
    """The words of a rejection, in order, once each: the only vocabulary an amendment may use."""
    seen: list[str] = []
    for word in WORD.findall(message):
        word = word.rstrip(".:-")
        if word and word not in seen:
            seen.append(word)
    return seen


def quoted(message: str) -> set[str]:
    """The words a rejection quotes: where an answer points at what it refused."""
    return {single or double for single, double in QUOTED.findall(message)}


async def amend(calls: SearchCalls, task: Task, action: str, rejection: str, *,
                max_checks: int = MAX_CHECKS, max_edits: int = MAX_EDITS) -> list[Amendment]:
    """Accepted variants of ``action`` (rejected with ``rejection``), one per distinct answer, the cheapest
    first; empty when the environment's protocol gives it no variant or nothing nearby is accepted.

    Best-first: dropping a key is free, every word brought in from a rejection costs one, so all that
    removals alone reach comes first, then what one borrowed word reaches, and so on. A variant is tried
    only when its turn comes, so the budget ``max_checks`` is spent on the cheapest variants."""
    protocol = calls.environment.protocol
    order = count()
    queue: list[tuple[int, int, int, str, str | None, str]] = []
    seen = {action.strip()}

    def push(node: str, message: str, cost: int, edits: int) -> None:
        for variant, brought in protocol.variants(node, message):
            if variant not in seen:
                seen.add(variant)
                heapq.heappush(queue, (cost + (brought is not None), edits + 1, next(order), variant, brought, message))

    push(action.strip(), rejection, 0, 0)
    found: dict[str, Amendment] = {}
    checks = 0
    while queue and checks < max_checks:
        cost, edits, _, variant, brought, message = heapq.heappop(queue)
        checks += 1
        step = await calls.attempt(task, variant)
        if step is None:
            continue  # not replayable: never sent
        if accepted(step):
            found.setdefault(step.observation, Amendment(variant, step.observation))
        elif (step.failed and edits < max_edits and step.observation != message
              and brought not in quoted(step.observation)):
            push(variant, step.observation, cost, edits)  # a new complaint, not about the word just brought in
    return list(found.values())
