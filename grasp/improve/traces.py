"""Compact views of episodes for the writer's prompts, within a character budget."""

from __future__ import annotations

from collections.abc import Iterator

from ..environment import Episode

OBSERVATION_CHARS = 240


def verdict(episode: Episode, *, feedback: bool) -> str:
    """Why a failed training episode failed, as the writer reads it: the grader's words (its tags and reason) when
    ``feedback`` is on, else only that it failed. Only training items are ever shown to the writer as failures;
    a probe's or a sealed item's outcome is read as pass or fail and nothing else."""
    return f"{', '.join(episode.tags) or 'failed'}; {episode.reason[:160]}" if feedback else "failed"


def compress(episode: Episode, *, limit: int = 1400, feedback: bool = True) -> str:
    """Actions, clipped observations, answer and verdict of one episode."""
    lines = [f"[{'PASS' if episode.passed else 'FAIL'}] family {episode.family}"]
    for turn in episode.trace:
        lines.append(f"  action: {turn.action.text.strip().replace(chr(10), ' ')[:300]}")
        if not turn.step.done:
            content = turn.read.strip().replace("\n", " ")
            lines.append(f"  result: {content[:OBSERVATION_CHARS]}{'...' if len(content) > OBSERVATION_CHARS else ''}")
    if not episode.passed:
        lines.append(f"  verdict: {verdict(episode, feedback=feedback)}")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 20] + "\n  ...(cut)"


def within_budget(parts: list[str], budget_chars: int) -> tuple[list[str], int]:
    """Keep parts in order while they fit; returns the kept parts and how many were cut."""
    kept, used = [], 0
    for part in parts:
        if used + len(part) > budget_chars and kept:
            break
        kept.append(part)
        used += len(part)
    return kept, len(parts) - len(kept)


def rejections(episode: Episode) -> Iterator[tuple[str, str]]:
    """Each action the environment did not accept (a 4xx, an invalid action), with what it said back, in order."""
    for turn in episode.trace:
        if not turn.step.accepted:
            yield turn.action.text, turn.read


def first_rejection(episode: Episode) -> tuple[str, str] | None:
    """The episode's first action the environment did not accept, and what it said back; None if none."""
    return next(rejections(episode), None)


def complaints(episodes: list[Episode], *, limit: int = 3, chars: int = 400) -> list[str]:
    """What the environment said back to steps it did not accept (a 4xx, an invalid action), whole and
    deduplicated: its words usually name the fix ("Did you mean 'x'?"), so the proposer reads them
    unclipped instead of cut off inside a trace."""
    said: list[str] = []
    for episode in episodes:
        for _, answer in rejections(episode):
            text = " ".join(answer.split())[:chars]
            if text and text not in said:
                said.append(text)
    return said[:limit]
