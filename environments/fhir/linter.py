"""FHIR's skill linter: what this server would reject in a request written in a skill, and why, and the
corrections the server determines by itself (a parameter name close to a valid one, an unencoded '+', a
literal record filter beside placeholders, element names a resource does not have, a write's body under its
line). It never supplies what a task needs: a window, which parameters to combine, an answer's shape; those are
the skill's to learn."""

from __future__ import annotations

import difflib
import json
import re
from urllib.parse import parse_qsl

from .search import COMMON, DATE_PARAMS, PARAMETERS, PREFIXES, RESOURCE_TYPES, SearchError, build_query
from .subset import known_elements
from .validation import validate_resource

PLACEHOLDER = re.compile(r"<[^<>]*>")
SAMPLE_INSTANT = "2024-01-01T00:00:00"  # what a placeholder for a time is filled with, so its surroundings are checked


def _sample(key: str, value: str) -> str:
    """A placeholder filled with a value of the right kind, so that what surrounds it is still checked:
    ``ge<SINCE_24H>%2B00:00`` passes, ``<DATE>+00:00`` (an unencoded plus) does not."""
    if "<" not in value:
        return value
    return PLACEHOLDER.sub(SAMPLE_INSTANT if key in DATE_PARAMS else "x", value)


# Parameters whose value picks out one record: in a skill they must be the task's value, as a placeholder.
RECORD_PARAMS = {"patient", "subject", "identifier", "name", "given", "family", "birthdate", "_id"}


def _literal_records(query: str) -> list[str]:
    """``key=value`` parts of ``query`` that pick out a record by a literal value: one task's value copied
    into the skill, or one the model made up (``identifier=1234567890`` beside the name it was given).
    Either way the skill fails on every other task."""
    return [f"{key}={value}" for key, value in parse_qsl(query, keep_blank_values=True)
            if key in RECORD_PARAMS and value and not PLACEHOLDER.search(value)]


def _parts(query: str) -> list[tuple[str, str, str]]:
    """(``key=value`` as written, key, value) for each part of ``query``, values left encoded."""
    return [(part, key, value) for part in query.split("&") for key, _, value in [part.partition("=")]]


def _exact_instants(query: str) -> list[str]:
    """``key=value`` parts that filter a clinical date on one exact second: a time with no prefix is an
    ``eq`` search, which matches only records stamped at that very second, so the skill finds nothing on
    almost every task (``date=<NOW>%2B00:00`` where "in the last 24 hours" was meant). A bare day
    (``date=2024-03-15``) still matches its whole day, and a birth date is a day, so both pass."""
    return [part for part, key, value in _parts(query)
            if key in DATE_PARAMS and key != "birthdate" and value and value[:2] not in PREFIXES
            and "T" in _sample(key, value)]


NAME_PARAMS = {"name", "given", "family"}


def _joined_names(query: str) -> list[str]:
    """``key=value`` parts that search one name parameter for two words at once (``name=<GIVEN>+<FAMILY>``):
    the server matches each word of a name separately, as HAPI does, so "Pavel Kettering" matches nobody."""
    return [part for part, key, value in _parts(query) if key in NAME_PARAMS and re.search(r"\S(?:\+|%20| )\S", value)]


EXTRA_QUESTION_MARKS = ("a URL has one '?': the parameters after it are joined with '&', so everything after a "
                        "second '?' is read as part of the value before it and the search matches nothing")


def rejection(rtype: str, query: str) -> str | None:
    """Why this server would reject ``rtype?query`` (placeholders filled with values of the right kind), or None."""
    if "?" in query:
        return EXTRA_QUESTION_MARKS
    params = [(key, _sample(key, value)) for key, value in parse_qsl(query, keep_blank_values=True)]
    try:
        build_query(rtype, params, "check")
    except SearchError as error:
        return str(error)
    if literal := _literal_records(query):
        return (f"{', '.join(literal)}: picks out a record by a literal value, so the skill fails on every other "
                "task: a value that picks out a record comes from the task, written as a <PLACEHOLDER>; drop a "
                "filter the task gives no value for")
    if joined := _joined_names(query):
        return (f"{', '.join(joined)}: this server matches each word of a name separately, as HAPI does, so "
                "two words in one name parameter match nobody")
    if exact := _exact_instants(query):
        return (f"{', '.join(exact)}: a date and time with no prefix is an eq search, which matches only records "
                "stamped at that exact second, so this finds nothing on almost every task (the prefixes are eq, gt, "
                "ge, lt, le)")
    return None


def corrected(rtype: str, query: str) -> str:
    """``query`` with what the server determines by itself fixed: a parameter name close to a valid one,
    an unencoded '+' in a date, a second '?' where '&' joins parameters, ``_elements`` names the resource does
    not have dropped, a record filter with a literal value dropped when others still pick the record by placeholders (``identifier=1234567890&family=<FAMILY>`` becomes ``family=<FAMILY>``). Never
    what a task needs (a window, which parameters to combine): that is the skill's to learn."""
    known = sorted(PARAMETERS[rtype] | COMMON)
    parts = []
    for part in query.replace("?", "&").split("&"):
        key, equals, value = part.partition("=")
        if key not in known and (guess := difflib.get_close_matches(key, known, n=1, cutoff=0.6)):
            key = guess[0]
        if key in DATE_PARAMS:
            value = value.replace("+", "%2B")
        if key == "_elements" and rtype in RESOURCE_TYPES:
            value = known_elements(rtype, value)
            if not value:
                continue  # no element it names exists: the request asks for whole resources
        parts.append(f"{key}{equals}{value}")
    kept = [part for part in parts if not _literal_records(part)]
    if len(kept) < len(parts) and any(part.partition("=")[0] in RECORD_PARAMS for part in kept):
        parts = kept  # the search still picks its record by the task's values once the literal ones are gone
    return "&".join(parts)


WRITE = re.compile(r"\b(POST|PUT) (?:\S*/)?(" + "|".join(RESOURCE_TYPES) + r")(?:/\S*)?[ \t]*\n")
BARE_PLACEHOLDER = re.compile(r"(?<=[:\[,])(\s*)<[A-Za-z0-9_ ]+>")
# Placeholders that stand for a time or a day: filled with one, so that a date field around them is checked.
SAMPLE_VALUES = {"NOW": SAMPLE_INSTANT, "SINCE_24H": SAMPLE_INSTANT, "BIRTHDATE": SAMPLE_INSTANT[:10]}


def written_bodies(text: str) -> list[tuple[str, str, str]]:
    """(verb, resource type, the JSON text) of each write in ``text`` whose body follows its line."""
    found = []
    for match in WRITE.finditer(text):
        rest = text[match.end():].lstrip(" \t")
        rest = re.sub(r"^```[a-zA-Z]*\n", "", rest)
        if rest.startswith("{"):
            found.append((match.group(1), match.group(2), rest))
    return found


def body_rejection(verb: str, rtype: str, written: str) -> str | None:
    """Why this server would refuse the body ``written`` (the text from its opening brace), in the words of its
    400, or None. Placeholders are filled first: a bare one (``"value": <DOSE>``) with a number, a time or a day
    with a sample of its kind, any other with its own text, a string. A problem at a field whose written value
    holds a placeholder this cannot fill with the right kind is not reported: the task's value may well fit."""
    filled = BARE_PLACEHOLDER.sub(lambda m: m.group(1) + "1", written)
    filled = PLACEHOLDER.sub(lambda m: SAMPLE_VALUES.get(m.group(0)[1:-1], m.group(0)), filled)
    try:
        body, _ = json.JSONDecoder().raw_decode(filled)
    except ValueError as error:
        return f"{verb} {rtype}: the body is not valid JSON ({error.msg}, line {error.lineno} of the body)"
    if not isinstance(body, dict):
        return f"{verb} {rtype}: the body must be one JSON object, the {rtype} resource"
    if body.get("resourceType") != rtype:
        return f"{verb} {rtype}: resourceType in the body ({body.get('resourceType')!r}) must be {rtype!r}"
    problem = validate_resource({**body, "id": body.get("id", "x")})
    if problem is None:
        return None
    field = problem.split(":", 1)[0].split(".")[0]
    if re.search(rf'"{re.escape(field)}"\s*:\s*[^,\n]*<[A-Za-z0-9_ ]+>', written):
        return None
    return f"{verb} {rtype}: the server would answer 400 Invalid {rtype}: {problem}"


# A write as a skill writes it: the verb, its URL (the server's base, or none, then a capitalised path), and
# whether its JSON body starts on the same line. A lower-case word after the verb ("the POST body") is prose.
WRITE_LINE = re.compile(r"\b(POST|PUT)[ \t]+((?:https?://\S*?/fhir/|/?fhir/|/)?([A-Z][A-Za-z]*)(/\S*)?)([ \t]*\{)?")
SAME_LINE = "{verb} needs one URL on its line, then the JSON body on the next lines"  # the action parser's words


def _segments(rest: str | None) -> list[str]:
    """The parts of a write's path after its first resource type (``/<MRN>/ServiceRequest``)."""
    return [part for part in (rest or "").split("/") if part]


def write_line_problem(verb: str, url: str, rtype: str, rest: str | None, body_on_line: bool) -> str | None:
    """What this server would say to the write line ``verb url`` (``rest``: the path after the type), or None.
    In the server's own words: an unknown type is its 404, a path it takes no write on its 405."""
    segments = _segments(rest)
    named = segments[-1] if verb == "POST" and segments and segments[-1][:1].isupper() else rtype
    if named not in RESOURCE_TYPES:
        return f"{verb} {url}: Unknown resource type '{named}'. This server has: {', '.join(RESOURCE_TYPES)}"
    if (verb == "POST" and segments) or (verb == "PUT" and len(segments) != 1):
        where = "<ResourceType>/<id>" if verb == "PUT" else "<ResourceType>"
        return f"{verb} {url}: Method {verb} is not allowed on that path; this server takes {verb} {where}"
    if body_on_line:
        return f"{verb} {url}: {SAME_LINE.format(verb=verb)}"
    return None


def write_rejection(text: str) -> str | None:
    """The first write in ``text`` this server would refuse, with its reason, or None: its line (the resource
    type, the path, the body on its own lines), then its body."""
    for match in WRITE_LINE.finditer(text):
        verb, url, rtype, rest, same_line = match.groups()
        if problem := write_line_problem(verb, url, rtype, rest, bool(same_line)):
            return problem
    for verb, rtype, written in written_bodies(text):
        if problem := body_rejection(verb, rtype, written):
            return problem
    return None


def mended_writes(text: str) -> str:
    """``text`` with what the server determines by itself in a write's line fixed: a body begun on the URL's
    line moved to the next, a POST to a patient's compartment (``Patient/<MRN>/ServiceRequest``) sent to its
    resource type. An unknown resource type is left for the proposer: which one was meant is not the server's
    to say."""
    def mend(match: re.Match[str]) -> str:
        verb, url, rtype, rest, same_line = match.groups()
        segments = _segments(rest)
        if rtype == "Patient" and verb == "POST" and segments:
            last = segments[-1]
            if last in RESOURCE_TYPES:
                url = url[:len(url) - len(rtype) - len(rest)] + last
        return f"{verb} {url}" + ("\n{" if same_line else "")

    return WRITE_LINE.sub(mend, text)
