"""Failure taxonomy: a short mechanism label for each failing episode.

One classifier call per batch labels every new failure; labels are kept per
(task, reason) so later epochs reuse them. When the model's reply is unusable
the grader's own failure tag is the label, and the fallback is recorded.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from ..environment import Episode
from ..errors import ModelError, ModelUnavailable
from ..models.base import Model, structured
from .traces import compress, within_budget

LABEL = re.compile(r"[^a-z0-9]+")


class Labels(BaseModel):
    labels: list[str] = Field(description="one short snake_case mechanism label per failure, in order")


def label_key(episode: Episode) -> str:
    return f"{episode.task_id}|{episode.reason[:80]}"


def clean_label(raw: str) -> str:
    return LABEL.sub("_", raw.lower()).strip("_")[:40] or "unknown"


async def label_failures(model: Model, failures: list[Episode], known: dict[str, str], *,
                         budget_chars: int = 6000) -> tuple[dict[str, str], list[str]]:
    """Labels for ``failures`` (reusing ``known``); returns (new labels, notes about fallbacks)."""
    todo = [episode for episode in failures if label_key(episode) not in known]
    if not todo:
        return {}, []
    parts, cut = within_budget([f"Failure {i + 1}:\n{compress(e, limit=700)}" for i, e in enumerate(todo)],
                               budget_chars)
    prompt = [
        {"role": "system", "content": "You classify why an agent failed a task. A label names the mechanism in 1-4 "
                                      "words, snake_case, like wrong_sort_order or answer_has_units."},
        {"role": "user", "content": "\n\n".join(parts) + f"\n\nGive exactly {len(parts)} labels, one per failure."},
    ]
    notes = [f"classifier: {cut} failure(s) cut to fit the prompt budget"] if cut else []
    labels: list[str] = []
    try:
        reply, _ = await structured(model, prompt, Labels, max_tokens=30 * len(parts) + 40)
        labels = [clean_label(label) for label in reply.labels]
    except ModelUnavailable:
        raise  # an outage pauses the run; it says nothing about the failures
    except ModelError as error:
        notes.append(f"classifier reply unusable ({error}); grader tags used as labels")
    result = {}
    for index, episode in enumerate(todo):
        fallback = clean_label(episode.tags[0]) if episode.tags else "unknown"
        result[label_key(episode)] = labels[index] if index < len(labels) else fallback
    return result, notes
