"""``_elements`` and ``_summary``: asking the server for less of each resource, as HAPI serves it.

A small agent reads a Bundle of three bare ``valueQuantity`` objects far more reliably than
twenty full Observations, so the server honours FHIR's two subsetting parameters:

- ``_elements=a,b``: only the named top-level elements (``Observation.a`` is accepted too), plus
  ``resourceType``, ``id`` and ``meta`` with a SUBSETTED tag;
- ``_summary=true`` (the elements the specification marks as summary), ``count`` (the total, no
  entries), ``data`` (all but the narrative) or ``false`` (everything).

Which elements exist, and which are summary elements, comes from the R4B models of fhir.resources,
so an element name the specification does not know is a 400 that names it, never silently ignored.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from .errors import SearchError

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
SUMMARY_MODES = ("true", "false", "count", "data")
ALWAYS = ("resourceType", "id", "meta")
ELEMENT = re.compile(r"[A-Za-z][A-Za-z0-9]*")


@dataclass(frozen=True)
class Subset:
    """What to keep of each resource in a search result; ``count_only``: no entries at all."""

    keep: frozenset[str] | None = None  # None: the whole resource
    drop: frozenset[str] = frozenset()
    count_only: bool = False

    @property
    def changes_resources(self) -> bool:
        return self.keep is not None or bool(self.drop)

    def apply(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The subsetted copy of ``resource``, tagged SUBSETTED when anything was left out."""
        if self.keep is not None:
            kept = {key: value for key, value in resource.items() if key in self.keep or key in ALWAYS}
        else:
            kept = {key: value for key, value in resource.items() if key not in self.drop}
        if len(kept) == len(resource):
            return resource
        meta = dict(kept.get("meta") or {})
        meta["tag"] = [*meta.get("tag", []), SUBSETTED]
        kept["meta"] = meta
        return {key: kept[key] for key in ("resourceType", "id", "meta") if key in kept} | kept


@cache
def _elements_of(rtype: str) -> tuple[frozenset[str], frozenset[str], dict[str, frozenset[str]]]:
    """(every element name, the summary elements, choice base name -> its typed names) of ``rtype``."""
    module = importlib.import_module(f"fhir.resources.R4B.{rtype.lower()}")
    model = getattr(module, rtype)
    names: set[str] = set()
    summary: set[str] = set()
    choices: dict[str, set[str]] = {}
    for field in model.model_fields.values():
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        if not extra.get("element_property") or not field.alias or field.alias.startswith("_"):
            continue
        names.add(field.alias)
        if extra.get("summary_element_property"):
            summary.add(field.alias)
        if choice := extra.get("one_of_many"):
            choices.setdefault(str(choice), set()).add(field.alias)
    return frozenset(names), frozenset(summary), {base: frozenset(typed) for base, typed in choices.items()}


def _element(rtype: str, raw: str) -> str:
    """One name of an ``_elements`` list as the server reads it: trimmed, ``Observation.`` dropped."""
    item = raw.strip()
    return item[len(rtype) + 1:] if item.startswith(f"{rtype}.") else item


def parse_elements(rtype: str, value: str) -> frozenset[str]:
    """The top-level elements ``_elements`` names; a choice's base name (``value``) means each of its types."""
    names, _, choices = _elements_of(rtype)
    kept: set[str] = set()
    for raw in value.split(","):
        item = _element(rtype, raw)
        if not ELEMENT.fullmatch(item):
            raise SearchError(f"_elements: {raw!r} is not a top-level element name of {rtype} "
                              f"(write a comma list such as _elements=code,valueQuantity)")
        if item in choices:
            kept |= choices[item]
        elif item in names or item in ALWAYS:
            kept.add(item)
        else:
            raise SearchError(f"_elements: {rtype} has no element {item!r}. Elements: {', '.join(sorted(names))}")
    return frozenset(kept)


def known_elements(rtype: str, value: str) -> str:
    """The names of ``_elements=value`` that ``rtype`` has, comma-joined in the order written ("" when none
    is): the correction the server can make by itself to a list that names elements it does not have (a
    skill's ``_elements=valueQuantity,unit,system`` asks for two that no Observation holds)."""
    names, _, choices = _elements_of(rtype)
    return ",".join(raw.strip() for raw in value.split(",")
                    if _element(rtype, raw) in names | choices.keys() | set(ALWAYS))


def parse_summary(rtype: str, value: str) -> Subset:
    if value not in SUMMARY_MODES:
        raise SearchError(f"_summary={value!r} is not supported; use one of {', '.join(SUMMARY_MODES)}")
    if value == "count":
        return Subset(count_only=True)
    if value == "true":
        return Subset(keep=_elements_of(rtype)[1])
    if value == "data":
        return Subset(drop=frozenset({"text"}))
    return Subset()


def subset_for(rtype: str, params: list[tuple[str, str]]) -> Subset:
    """The subset ``params`` ask for; ``_elements`` and ``_summary`` together are refused, as HAPI
    would not say which one wins."""
    elements = [value for key, value in params if key == "_elements"]
    summaries = [value for key, value in params if key == "_summary"]
    if len(elements) > 1 or len(summaries) > 1:
        raise SearchError("_elements and _summary may each be given once")
    if elements and summaries and summaries[0] != "false":
        raise SearchError("use either _elements or _summary, not both")
    if elements:
        return Subset(keep=parse_elements(rtype, elements[0]))
    if summaries:
        return parse_summary(rtype, summaries[0])
    return Subset()
