"""Amending a rejected action from what the environment said about it, with no model.

A weak executor that has never seen a request work sends one with made-up parameters, reads the
rejection ("unknown parameter 'city'; allowed: page, per_page, q, region, sort") and gives up. The
words it needed were in that answer. This module searches the neighbourhood of the rejected action
that the rejection itself spans: the part it names (a parameter whose key or value it quotes) is
dropped, renamed to a word of the answer, or given a word of the answer as its value; an edit that
draws a new complaint (not about the word it brought in) is progress and is amended in turn.
Every variant is tried on a fresh session of the same task, so the environment, not a model, decides,
through ``grasp.agent.search.SearchCalls``: only a variant the environment calls replayable is sent,
and every one sent is stored and counted in the run's cost.

What comes out is the set of actions the environment accepted, one per distinct answer, the cheapest
first (a dropped key is free, a word borrowed from an answer costs one). Nothing here knows what the
task needs: which accepted action was the right one is for the executor to show by answering from its result, and for the grader to judge (``grasp.improve.explore``).

Only a one-line action with a query string (``VERB path?key=value&...``) is amended: the shape most
text APIs share, and one that never carries a body; whether a variant may be sent at all is the
environment's word (``Environment.replayable``), never this module's.
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
class QueryAction:
    """An action as a head (``GET stations``) and its query's key=value pairs, in order."""

    head: str
    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def parse(cls, text: str) -> QueryAction | None:
        text = text.strip()
        if "\n" in text or "?" not in text:
            return None
        head, _, query = text.partition("?")
        pairs: list[tuple[str, str]] = []
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if key and (key, value) not in pairs:  # a runaway reply repeats whole pairs; once is what it meant
                pairs.append((key, value))
        return cls(head, tuple(pairs)) if pairs else None

    def render(self) -> str:
        query = "&".join(f"{key}={value}" if value else key for key, value in self.pairs)
        return f"{self.head}?{query}" if query else self.head


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


def culprits(action: QueryAction, message: str) -> list[tuple[int, bool, bool]]:
    """The pairs the rejection points at, each with whether its key and whether its value is in question.

    A quoted key is a wrong name (drop it or rename it); a quoted value a wrong value (drop it or
    re-value it). Where the rejection quotes nothing of the action, a pair it names as a whole word is
    in question as a whole, and where it names none, every pair is."""
    marked = quoted(message)
    pointed = [(i, key in marked, bool(value) and value in marked) for i, (key, value) in enumerate(action.pairs)]
    if any(by_key or by_value for _, by_key, by_value in pointed):
        return [(i, by_key, by_value) for i, by_key, by_value in pointed if by_key or by_value]
    words = set(named_words(message))
    named = [i for i, (key, value) in enumerate(action.pairs) if key in words or (value and value in words)]
    return [(i, True, True) for i in named or range(len(action.pairs))]


def neighbours(action: QueryAction, message: str) -> list[tuple[QueryAction, str | None]]:
    """One edit away, within what ``message`` names: drop the key it points at, rename that key to a word of
    the message (not to a key the action already has), or give that value a word of the message. Each with
    the word it brought in."""
    words = named_words(message)
    keys = {key for key, _ in action.pairs}
    found: list[tuple[QueryAction, str | None]] = []
    for index, by_key, by_value in culprits(action, message):
        key, value = action.pairs[index]
        before, after = action.pairs[:index], action.pairs[index + 1:]
        found.append((QueryAction(action.head, tuple(pair for pair in action.pairs if pair[0] != key)), None))
        for word in words:
            if by_key and word not in keys:
                found.append((QueryAction(action.head, before + ((word, value),) + after), word))
            if by_value and word != value:
                found.append((QueryAction(action.head, before + ((key, word),) + after), word))
    return found


async def amend(calls: SearchCalls, task: Task, action: str, rejection: str, *,
                max_checks: int = MAX_CHECKS, max_edits: int = MAX_EDITS) -> list[Amendment]:
    """Accepted variants of ``action`` (rejected with ``rejection``), one per distinct answer, the cheapest
    first; empty when the action is not a query or nothing nearby is accepted.

    Best-first: dropping a key is free, every word brought in from a rejection costs one, so all that
    removals alone reach comes first, then what one borrowed word reaches, and so on. A variant is tried
    only when its turn comes, so the budget ``max_checks`` is spent on the cheapest variants."""
    start = QueryAction.parse(action)
    if start is None:
        return []
    order = count()
    queue: list[tuple[int, int, int, QueryAction, str | None, str]] = []
    seen = {start.render()}

    def push(node: QueryAction, message: str, cost: int, edits: int) -> None:
        for variant, brought in neighbours(node, message):
            if variant.render() not in seen:
                seen.add(variant.render())
                heapq.heappush(queue, (cost + (brought is not None), edits + 1, next(order), variant, brought, message))

    push(start, rejection, 0, 0)
    found: dict[str, Amendment] = {}
    checks = 0
    while queue and checks < max_checks:
        cost, edits, _, variant, brought, message = heapq.heappop(queue)
        checks += 1
        step = await calls.attempt(task, variant.render())
        if step is None:
            continue  # not replayable: never sent
        if accepted(step):
            found.setdefault(step.observation, Amendment(variant.render(), step.observation))
        elif (step.failed and edits < max_edits and step.observation != message
              and brought not in quoted(step.observation)):
            push(variant, step.observation, cost, edits)  # a new complaint, not about the word just brought in
    return list(found.values())
