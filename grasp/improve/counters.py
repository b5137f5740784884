"""A run's counters, derived from what is stored: never incremented, so a resume cannot double them."""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field

from ..store import LibraryStore
from ..store.runs import RunStore


class RunCounts(BaseModel):
    accepted: int = 0
    refused: int = 0
    gate_episodes: int = 0  # every probe episode: baselines, pool status runs, candidates
    gate_episodes_saved: int = 0  # candidate probe episodes that early reject skipped
    explore_episodes: int = 0
    trial_episodes: int = 0  # candidates tried on the batch failures they were built for
    refused_at_trial: int = 0  # candidates that never reached the gate: no probe episode spent on them
    search_calls: int = 0  # environment calls of search (amendment, shortening), each a one-step fresh session
    accepted_by_origin: dict[str, int] = Field(default_factory=dict)
    refused_by_origin: dict[str, int] = Field(default_factory=dict)


def run_counts(libraries: LibraryStore, runs: RunStore, run_id: str, library: str) -> RunCounts:
    decisions = libraries.decisions(library, run_id=run_id)
    accepted = Counter(d.origin for d in decisions if d.result_version is not None)
    refused = Counter(d.origin for d in decisions if d.result_version is None)
    return RunCounts(
        accepted=sum(accepted.values()), refused=sum(refused.values()),
        gate_episodes=runs.count_episodes(run_id, phase="probe"),
        gate_episodes_saved=sum(d.evidence.episodes_saved for d in decisions),
        explore_episodes=runs.count_episodes(run_id, phase="explore"),
        trial_episodes=runs.count_episodes(run_id, phase="trial"),
        search_calls=runs.count_search_calls(run_id),
        refused_at_trial=sum(1 for d in decisions if d.stage == "trial"),
        accepted_by_origin=dict(sorted(accepted.items())), refused_by_origin=dict(sorted(refused.items())),
    )
