"""The values a FHIR task brings with it, declared for grasp's induction and masking.

Each task's MRN (or the name and birth date it searches by), its lab code, a reading it asks to record and
the clock ("now", and 24 hours before it when the task has a 24-hour window) become ``Task.variables``.
Timestamps are declared without their UTC offset, so a trace's ``2024-03-14T09:30:00%2B00:00`` abstracts
to ``<SINCE_24H>%2B00:00``: the encoding the server needs stays visible in the skill, and only the value
is a placeholder.

Two wordings are read: our synthetic templates ("the patient named Ann Lee, born 1950-01-02", "The code
for magnesium is MG") and MedAgentBench's own ("the patient with name Peter Stafford and DOB of
1932-12-29", 'The code for magnesium is "MG"', "it is "118/77 mmHg""). "Now" is the task's own, read from
its context ("It's 2023-11-13T10:15:00+00:00 now"), so a MedAgentBench file keeps its clock; the world's
fixed clock is the fallback for a task that states none. Why it matters: the core drops a drafted filter
whose value is no declared variable (``without_unknown_parameters``), so an undeclared name or code
deletes a proposer's correct search.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from grasp.tasks import Task

from .codes import NOW

MRN_PATTERN = re.compile(r"\bS\d{7}\b")
NAMED = (
    re.compile(r"patient named (?P<given>[\w'-]+) (?P<family>[\w'-]+), born (?P<birth>\d{4}-\d{2}-\d{2})"),
    re.compile(r"with name (?P<given>[\w'-]+) (?P<family>[\w' -]+?) and DOB of (?P<birth>\d{4}-\d{2}-\d{2})"),
)
CODE = re.compile(r"The (?:code|flowsheet ID) for [\w ]+? is \"?(?P<code>[A-Z][A-Z0-9]*)\"?(?![\w-])")
READING = re.compile(r"(?P<reading>\d{2,3}/\d{2,3} mmHg)")
NOW_STATED = re.compile(r"It's (?P<now>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:\d{2})?) now")

DESCRIPTIONS = {
    "MRN": "the patient's MRN, from the task",
    "GIVEN": "the given name, from the task",
    "FAMILY": "the family name, from the task",
    "BIRTHDATE": "the birth date, from the task",
    "CODE": "the lab code the task names",
    "READING": "the measurement the task asks to record, as written in the task",
    "NOW": "the current time from the task (YYYY-MM-DDThh:mm:ss)",
    "SINCE_24H": "24 hours before now: the same time on the day before (YYYY-MM-DDThh:mm:ss)",
}


def _stamps(moment: datetime) -> list[str]:
    return [moment.strftime("%Y-%m-%dT%H:%M:%S"), moment.strftime("%Y-%m-%dT%H:%M")]


def task_now(task: Task) -> datetime:
    """The time the task says it is, else the world's fixed clock."""
    if stated := NOW_STATED.search(task.context) or NOW_STATED.search(task.instruction):
        return datetime.fromisoformat(stated["now"].replace("Z", "+00:00"))
    return NOW


def task_variables(task: Task) -> dict[str, str | list[str]]:
    """The task's values by placeholder name (see the module docstring)."""
    text = f"{task.instruction} {task.context}"
    found: dict[str, str | list[str]] = {}
    named = next((match for pattern in NAMED if (match := pattern.search(task.instruction))), None)
    if named:
        found.update(GIVEN=named["given"], FAMILY=named["family"], BIRTHDATE=named["birth"])
    elif mrn := MRN_PATTERN.search(task.instruction):
        found["MRN"] = mrn.group(0)
    if code := CODE.search(text):
        found["CODE"] = code["code"]
    if reading := READING.search(task.instruction):
        found["READING"] = reading["reading"]
    now = task_now(task)
    if "24 hours" in task.instruction:
        found["SINCE_24H"] = _stamps(now - timedelta(hours=24))
    found["NOW"] = _stamps(now)
    return found


def with_variables(task: Task) -> Task:
    return task.model_copy(update={"variables": task_variables(task)})
