"""FHIR search: query parameters -> SQL over the indexed columns, HAPI style.

Anything the server does not understand is a :class:`SearchError` with a
message that names the parameter and what is wrong, answered as a 400
OperationOutcome; no input reaches the database unparsed.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from typing import Any

from .errors import SearchError
from .subset import Subset, subset_for

RESOURCE_TYPES = ("Patient", "Observation", "Condition", "MedicationRequest", "Procedure", "ServiceRequest")
COMMON = {"_count", "_sort", "_format", "_getpagesoffset", "_id", "_lastUpdated", "_pretty", "_elements", "_summary"}
SUBSETTING = {"_elements", "_summary"}
CLINICAL = {"patient", "subject", "code", "status"}
PARAMETERS: dict[str, set[str]] = {
    "Patient": {"identifier", "name", "family", "given", "birthdate", "gender"},
    "Observation": CLINICAL | {"category", "date"},
    "Condition": CLINICAL | {"category", "onset-date"},
    "MedicationRequest": CLINICAL | {"category", "authoredon"},
    "Procedure": CLINICAL | {"date"},
    "ServiceRequest": CLINICAL | {"authored", "category"},
}
DATE_PARAMS = {"date", "onset-date", "authoredon", "authored", "birthdate"}
SORTS = {"date": "date", "_lastUpdated": "last_updated", "birthdate": "birthdate", "_id": "pk"}
DEFAULT_COUNT = 20
MAX_COUNT = 5000
PREFIXES = ("eq", "ne", "gt", "ge", "lt", "le")
DATE_PATTERN = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


@dataclass
class Query:
    """SQL text with positional parameters: (rid, body, total) rows."""

    sql: str
    params: list[Any]
    count: int
    offset: int
    subset: Subset = Subset()


Clause = tuple[str, list[Any]]


def build_query(rtype: str, params: list[tuple[str, str]], episode: str, *, overrides: bool = False) -> Query:
    """Translate ``params`` (in order, repeats allowed) into one SELECT whose
    rows carry the total number of matches (a window count).

    Plain SQL text with bound parameters, not SQL expression objects: this is
    the server's hot path and expression building cost more than the query.
    ``overrides``: the episode has updated world resources, which must hide
    the world's versions of them (a costlier query, so only when needed).
    """
    allowed = PARAMETERS[rtype] | COMMON
    clauses: list[Clause] = [("rtype = ?", [rtype])]
    if overrides:
        clauses.append((
            "((episode IS NULL AND NOT EXISTS (SELECT 1 FROM resources o WHERE o.episode = ? AND o.rtype = r.rtype "
            "AND o.rid = r.rid)) OR episode = ?)",
            [episode, episode],
        ))
    else:
        clauses.append(("(episode IS NULL OR episode = ?)", [episode]))
    count, offset, order = DEFAULT_COUNT, 0, "pk"
    subset = subset_for(rtype, [(name, value) for name, value in params if name in SUBSETTING])
    for name, value in params:
        if name not in allowed:
            known = sorted(PARAMETERS[rtype]) + sorted(COMMON - {"_getpagesoffset", "_pretty"})
            guess = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f" Did you mean '{guess[0]}'?" if guess else ""
            raise SearchError(f"Unknown search parameter '{name}' for resource type {rtype}.{hint} "
                              f"Valid parameters: {', '.join(known)}")
        if value == "" and name not in {"_format", "_pretty"}:
            raise SearchError(f"Parameter '{name}' has an empty value")
        if name == "_count":
            count = _integer(name, value, 0, MAX_COUNT)
        elif name == "_getpagesoffset":
            offset = _integer(name, value, 0, 10**9)
        elif name == "_sort":
            order = _sort(value)
        elif name in SUBSETTING:
            continue  # read above, as a whole
        elif name in {"_format", "_pretty"}:
            if name == "_format" and value not in {"json", "application/json", "application/fhir+json"}:
                raise SearchError(f"_format={value!r} is not supported; this server speaks JSON only")
        else:
            clauses.append(_condition(name, value))
    where = " AND ".join(sql for sql, _ in clauses)
    values = [value for _, clause_values in clauses for value in clause_values]
    sql = f"SELECT rid, body, count(*) OVER () AS total FROM resources r WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?"
    return Query(sql, values + [count, offset], count, offset, subset)


def count_query(query: Query) -> tuple[str, list[Any]]:
    """The same search, counting matches only (for a page past the end)."""
    where = query.sql.split(" WHERE ", 1)[1].split(" ORDER BY ", 1)[0]
    return f"SELECT count(*) FROM resources r WHERE {where}", query.params[:-2]


DIGITS = re.compile(r"[0-9]{1,12}")


def _integer(name: str, value: str, low: int, high: int) -> int:
    if not DIGITS.fullmatch(value) or not low <= int(value) <= high:
        raise SearchError(f"Parameter '{name}' must be a whole number from {low} to {high}, got {value!r}")
    return int(value)


def _sort(value: str) -> str:
    order = []
    for key in value.split(","):
        descending = key.startswith("-")
        column = SORTS.get(key.lstrip("-"))
        if column is None:
            raise SearchError(f"Cannot sort by {key!r}; supported: {', '.join(sorted(SORTS))} (prefix '-' for descending)")
        order.append(f"{column} {'DESC' if descending else 'ASC'}")
    return ", ".join(order + ["pk DESC" if value.startswith("-") else "pk"])


def _condition(name: str, value: str) -> Clause:
    if ":" in name:
        raise SearchError(f"Search modifiers are not supported ({name!r})")
    if name in DATE_PARAMS:
        return date_condition(name, value, "birthdate" if name == "birthdate" else "date")
    if name == "_lastUpdated":
        return date_condition(name, value, "last_updated")
    return _HANDLERS[name](value)


def _reference(value: str) -> Clause:
    patient = value.split("/", 1)[1] if value.startswith("Patient/") else value
    if not patient or "/" in patient:
        raise SearchError(f"Patient reference {value!r} must be an id or 'Patient/<id>'")
    return "patient = ?", [patient]


def _token(column: str, system_column: str | None = None) -> Callable[[str], Clause]:
    def condition(value: str) -> Clause:
        options, values = [], []
        for part in value.split(","):
            system, bar, code = part.rpartition("|")
            if not code:
                raise SearchError(f"Token {part!r} has no code after '|'")
            if bar and system and system_column is not None:
                options.append(f"({column} = ? AND {system_column} = ?)")
                values += [code, system]
            else:
                options.append(f"{column} = ?")
                values.append(code)
        return "(" + " OR ".join(options) + ")", values

    return condition


def _prefix_match(*columns: str) -> Callable[[str], Clause]:
    """Case-insensitive prefix of any word (HAPI's default string matching)."""

    def condition(value: str) -> Clause:
        options, values = [], []
        for part in value.split(","):
            text = part.strip().lower().replace("%", "").replace("_", "")
            for column in columns:
                options += [f"{column} LIKE ?", f"{column} LIKE ?"]
                values += [f"{text}%", f"% {text}%"]
        return "(" + " OR ".join(options) + ")", values

    return condition


def _identifier(value: str) -> Clause:
    code = value.rpartition("|")[2]
    return "(identifier = ? OR identifier LIKE ? OR identifier LIKE ?)", [code, f"{code}|%", f"%|{code}"]


def _gender(value: str) -> Clause:
    if value not in {"male", "female", "other", "unknown"}:
        raise SearchError(f"gender must be one of male, female, other, unknown; got {value!r}")
    return "gender = ?", [value]


def _ids(value: str) -> Clause:
    ids = value.split(",")
    return f"rid IN ({', '.join('?' for _ in ids)})", ids


_HANDLERS: dict[str, Callable[[str], Clause]] = {
    "patient": _reference,
    "subject": _reference,
    "code": _token("code", "code_system"),
    "category": _token("category"),
    "status": _token("status"),
    "identifier": _identifier,
    "name": _prefix_match("family", "given"),
    "family": _prefix_match("family"),
    "given": _prefix_match("given"),
    "gender": _gender,
    "_id": _ids,
}


def parse_date_range(name: str, raw: str) -> tuple[str, datetime, datetime]:
    """Split a date search value into (prefix, start, end) with end exclusive, in UTC."""
    if " " in raw:
        raise SearchError(
            f"Invalid date value {raw!r} for '{name}': it contains a space. A '+' in a URL query "
            "is read as a space; encode it as %2B (for example 2024-03-14T09:30:00%2B00:00) or use Z"
        )
    prefix, text = (raw[:2], raw[2:]) if raw[:2] in PREFIXES else ("eq", raw)
    match = DATE_PATTERN.match(text)
    if not match:
        raise SearchError(
            f"Invalid date value {raw!r} for '{name}': expected [prefix]YYYY[-MM[-DD[Thh:mm[:ss][Z|+hh:mm]]]], "
            f"prefix one of {', '.join(PREFIXES)}"
        )
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        start = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0), int(second or 0))
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            start -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        if second:
            end = start + timedelta(seconds=1)
        elif minute:
            end = start + timedelta(minutes=1)
        elif day:
            end = start + timedelta(days=1)
        elif month:
            end = datetime(start.year + (start.month == 12), start.month % 12 + 1, 1)
        else:
            end = datetime(start.year + 1, 1, 1)
    except (ValueError, OverflowError) as error:  # a month 13, a day 31 in April, the end of year 9999
        raise SearchError(f"Invalid date value {raw!r} for '{name}': {error} (dates run from year 1 to 9998)") from None
    return prefix, start, end


def _sortable(moment: datetime, column: str) -> str:
    """The stored text form (zero-padded, so years before 1000 still compare as text)."""
    day = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
    return day if column == "birthdate" else f"{day}T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"


def date_condition(name: str, raw: str, column: str) -> Clause:
    prefix, start, end = parse_date_range(name, raw)
    low, high = _sortable(start, column), _sortable(end, column)
    return {
        "eq": (f"({column} >= ? AND {column} < ?)", [low, high]),
        "ne": (f"({column} < ? OR {column} >= ?)", [low, high]),
        "gt": (f"{column} >= ?", [high]),
        "ge": (f"{column} >= ?", [low]),
        "lt": (f"{column} < ?", [low]),
        "le": (f"{column} < ?", [high]),
    }[prefix]
