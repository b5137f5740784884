"""The values a FHIR task brings with it, declared for grasp's induction and masking.

Each task's MRN (or the name and birth date it searches by), its lab code and the
clock ("now", and 24 hours before it when the task has a 24-hour window) become
``Task.variables``. Timestamps are declared without their UTC offset, so a trace's
``2024-03-14T09:30:00%2B00:00`` abstracts to ``<SINCE_24H>%2B00:00``: the encoding the
server needs stays visible in the skill, and only the value is a placeholder.
"""

from __future__ import annotations

import re
from datetime import timedelta

from grasp.tasks import Task

from .codes import NOW

MRN_PATTERN = re.compile(r"\bS\d{7}\b")
NAMED = re.compile(r"patient named (?P<given>[\w'-]+) (?P<family>[\w'-]+), born (?P<birth>\d{4}-\d{2}-\d{2})")
CODE = re.compile(r"The code for [\w ]+ is (?P<code>[A-Z0-9]+)")

DESCRIPTIONS = {
    "MRN": "the patient's MRN, from the task",
    "GIVEN": "the given name, from the task",
    "FAMILY": "the family name, from the task",
    "BIRTHDATE": "the birth date, from the task",
    "CODE": "the lab code the task names",
    "NOW": "the current time from the task (YYYY-MM-DDThh:mm:ss)",
    "SINCE_24H": "24 hours before now: the same time on the day before (YYYY-MM-DDThh:mm:ss)",
}


def _stamps(moment) -> list[str]:
    return [moment.strftime("%Y-%m-%dT%H:%M:%S"), moment.strftime("%Y-%m-%dT%H:%M")]


def task_variables(task: Task) -> dict[str, str | list[str]]:
    """The task's values by placeholder name (see the module docstring)."""
    text = f"{task.instruction} {task.context}"
    found: dict[str, str | list[str]] = {}
    if named := NAMED.search(task.instruction):
        found.update(GIVEN=named["given"], FAMILY=named["family"], BIRTHDATE=named["birth"])
    elif mrn := MRN_PATTERN.search(task.instruction):
        found["MRN"] = mrn.group(0)
    if code := CODE.search(text):
        found["CODE"] = code["code"]
    if "24 hours" in task.instruction:
        found["SINCE_24H"] = _stamps(NOW - timedelta(hours=24))
    found["NOW"] = _stamps(NOW)
    return found


def with_variables(task: Task) -> Task:
    return task.model_copy(update={"variables": task_variables(task)})
