"""The FHIR text protocol: one action per model reply.

- ``GET <url>``
- ``POST <url>`` (or ``PUT <url>``) with a JSON body on the following lines
- ``FINISH([answer, ...])`` with a JSON list

Anything else is an invalid action. :func:`parse_action` never raises.

A write is read up to the end of its JSON object, a read up to the end of its line. What follows it in the
same reply (a small model often writes the body and then ``FINISH([])`` on the next line, or a GET line and
then the skill's next steps when no grammar holds it to one line, as over an endpoint) is not a second
action: it is returned as ``Action.ignored`` for the session to say it was not read. Refusing the whole reply instead lost 7 of 8
correct blood-pressure writes of the embedded model (issue 26), and the write is what the task needed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

ACTION_GRAMMAR = r"""
root   ::= get | post | finish
get    ::= "GET " url
post   ::= ("POST " | "PUT ") url "\n" json
finish ::= "FINISH(" list ")"
url    ::= [^ \n]+
list   ::= "[" ws (value (ws "," ws value)*)? ws "]"
json   ::= "{" [^\x00]*
value  ::= number | string
number ::= "-"? [0-9]+ ("." [0-9]+)?
string ::= "\"" [^"\n]* "\""
ws     ::= " "?
"""

@dataclass(frozen=True)
class Action:
    kind: Literal["GET", "POST", "PUT", "FINISH"]
    url: str = ""
    body: dict[str, Any] | None = None
    answer: list[Any] | None = None
    ignored: str = ""  # text after a write's JSON body or a GET line, not read as an action


@dataclass(frozen=True)
class Invalid:
    hint: str


FENCE = re.compile(r"^```[a-zA-Z]*\n(.*?)\n?```$", re.DOTALL)


def parse_action(reply: str) -> Action | Invalid:
    """Parse one reply into an Action, or an Invalid with a short hint for the agent."""
    if not isinstance(reply, str):
        return Invalid("Reply with text.")
    text = reply.strip()
    fenced = FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    if not text:
        return Invalid("Empty reply. Reply with exactly one action: GET url, POST url + JSON body, or FINISH([...]).")
    first, _, rest = text.partition("\n")
    first = first.strip()
    if first.startswith("FINISH"):
        return _finish(text)
    verb, _, url = first.partition(" ")
    url = url.strip()
    if verb == "GET":
        if not url or " " in url:
            return Invalid("GET needs one URL without spaces on the same line, e.g. GET Patient?name=Smith")
        return Action("GET", url=url, ignored=rest.strip())
    if verb in {"POST", "PUT"}:
        if not url or " " in url:
            return Invalid(f"{verb} needs one URL on its line, then the JSON body on the next lines.")
        written = rest.strip()
        try:
            body, end = json.JSONDecoder().raw_decode(written)
        except ValueError as error:
            return Invalid(f"The {verb} body is not valid JSON ({error.msg} at line {error.lineno + 1}).")
        if not isinstance(body, dict):
            return Invalid(f"The {verb} body must be one JSON object (a FHIR resource).")
        return Action(verb, url=url, body=body, ignored=written[end:].strip())  # type: ignore[arg-type]
    return Invalid("Unknown action. Reply with exactly one of: GET url | POST url then a JSON body | FINISH([...]).")


def _finish(text: str) -> Action | Invalid:
    match = re.fullmatch(r"FINISH\((.*)\)", text, re.DOTALL)
    if not match:
        return Invalid("FINISH must look like FINISH([value, ...]) with nothing after it.")
    try:
        answer = json.loads(match.group(1))
    except ValueError:
        return Invalid("FINISH takes a JSON list, e.g. FINISH([2.1]) or FINISH([\"Patient not found\"]).")
    if not isinstance(answer, list):
        return Invalid("FINISH takes a JSON list: wrap the answer in [ ].")
    return Action("FINISH", answer=answer)
