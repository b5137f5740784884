"""The protocol of a one-line HTTP request, shared by the built-in FHIR and weather environments.

An action is ``VERB path?key=value&...`` on one line. Search may resend a GET (a read) and nothing else; a
rejected request's near variants are edits of the query pair its answer points at (dropped, its key renamed
to a word of the answer, its value replaced by one); a request with an absolute URL has shorter spellings
with its scheme, host and base path dropped one by one. The search itself is the core's
(``grasp.improve.amend``, ``grasp.improve.shorten``): nothing HTTP-shaped lives there.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from grasp.improve.amend import named_words, quoted
from grasp.protocol import Protocol
from grasp.trace import Action

ONE_LINE_REQUEST = re.compile(r"(?P<verb>[A-Z]+) (?P<url>[a-z][a-z0-9+.-]*://\S+)")
VERBS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
FENCE = re.compile(r"^```[a-zA-Z]*\n(.*?)\n?```$", re.DOTALL)


def parse_request(reply: str) -> Action:
    """A reply as a request (``VERB url`` on its first line, a JSON body on the next ones) or an answer
    (``FINISH([...])``, its list as the body); anything else is an action with no name. Never raises: whether
    the environment accepts it is its session's word, not the parser's."""
    text = reply.strip()
    fenced = FENCE.match(text)
    text = fenced.group(1).strip() if fenced else text
    first, _, rest = text.partition("\n")
    first = first.strip()
    if first.startswith("FINISH"):
        inside = text[len("FINISH"):].strip()
        try:
            answer = json.loads(inside[1:-1]) if inside.startswith("(") and inside.endswith(")") else None
        except ValueError:
            answer = None
        return Action(text=reply, name="FINISH", body=answer)
    verb, _, url = first.partition(" ")
    if verb not in VERBS or not url.strip():
        return Action(text=reply)
    target, _, query = url.strip().partition("?")
    arguments: dict[str, str] = {}
    for part in query.split("&") if query else []:
        key, _, value = part.partition("=")
        if key:
            arguments.setdefault(key, value)
    try:
        body = json.JSONDecoder().raw_decode(rest.strip())[0] if rest.strip() else None
    except ValueError:
        body = None
    return Action(text=reply, name=verb, target=target, arguments=arguments, body=body)


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


def shorter_spellings(action: str) -> list[str]:
    """``action`` with its URL's leading parts dropped (scheme and host, then each base path segment),
    shortest first; empty when it is not a one-line request with an absolute URL."""
    match = ONE_LINE_REQUEST.fullmatch(action.strip())
    if match is None:
        return []
    verb, url = match["verb"], match["url"]
    path, _, query = url.split("://", 1)[1].partition("?")
    segments = path.split("/")[1:]  # the host dropped
    spellings = []
    for start in range(len(segments)):
        rest = "/".join(segments[start:])
        if rest:
            spellings.append(f"{verb} {rest}" + (f"?{query}" if query else ""))
    return sorted(spellings, key=len)


class HttpProtocol(Protocol):
    """One-line requests: a GET may be resent, a query's pairs have variants, an absolute URL shorter spellings."""

    def parse(self, reply: str) -> Action:
        return parse_request(reply)

    def replayable(self, action: str) -> bool:
        verb, _, url = action.strip().partition(" ")
        return verb == "GET" and bool(url) and not any(character.isspace() for character in url)

    def variants(self, action: str, answer: str) -> list[tuple[str, str | None]]:
        parsed = QueryAction.parse(action)
        if parsed is None:
            return []
        return [(variant.render(), brought) for variant, brought in neighbours(parsed, answer)
                if variant.render() != parsed.render()]

    def shorter(self, action: str) -> list[str]:
        return shorter_spellings(action)
