"""One error tree for grasp.

Every error a user can cause derives from :class:`GraspError`; the CLI turns
it into one clear line and a non-zero exit, so a user never sees a traceback
for their own mistake. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class GraspError(Exception):
    """Base class of every user-facing error raised by grasp."""


class ValidationError(GraspError):
    """Input that breaks a rule: names the thing, the field and the rule."""


class SkillFileError(ValidationError):
    """A SKILL.md (or Markdown skill file) that cannot be imported."""

    def __init__(self, path: str, field: str, rule: str) -> None:
        self.path, self.field, self.rule = path, field, rule
        super().__init__(f"{path}: field '{field}': {rule}")


class CapacityError(ValidationError):
    """An edit would make a library hold more skills than its capacity."""


class NotFoundError(GraspError):
    """A library, version, skill, run or task that does not exist."""


class StoreError(GraspError):
    """The database cannot be used: locked by another writer, newer schema, corrupt."""


class StoreBusyError(StoreError):
    """Another process is writing to the same database right now."""


class ModelError(GraspError):
    """A model endpoint failed after retries, or replied with something unusable."""


class ModelUnavailable(ModelError):
    """The endpoint kept failing (timeouts, 429, 5xx) after every retry: the run pauses, resumable.

    Never a reason to refuse a proposal or to fall back to another label: callers that catch
    ModelError for an unusable *reply* must let this one through."""


class BudgetReached(ModelUnavailable):
    """The run's budget (episodes or dollars) is spent: the run pauses before the next model call, resumable
    with a larger budget. A pause like an outage's: the episode in flight is not recorded and runs again."""


class EnvironmentError_(GraspError):
    """An environment could not be built, started or reached."""


class ConfigError(ValidationError):
    """A configuration file or option that is invalid."""


class SealedSplitError(GraspError):
    """The sealed test split was asked for a second time in one run."""
