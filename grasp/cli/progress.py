"""A live progress display for runs of episodes: done/total, accuracy so far, tokens, ETA."""

from __future__ import annotations

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ..environment import Episode
from ._common import console


class EpisodeProgress:
    def __init__(self, label: str, total: int) -> None:
        self.passed = 0
        self.done = 0
        self.tokens = 0
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("acc {task.fields[accuracy]}"), TextColumn("{task.fields[tokens]} tok"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console, transient=False,
            disable=not console.is_terminal,  # piped output (CI logs) gets the event lines only
        )
        self.task = self.progress.add_task(label, total=total, accuracy="-", tokens=0)

    def __enter__(self) -> "EpisodeProgress":
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def relabel(self, label: str, total: int) -> None:
        self.passed = self.done = 0
        self.progress.reset(self.task, total=total, description=label, accuracy="-", tokens=self.tokens)

    def __call__(self, episode: Episode) -> None:
        self.done += 1
        self.passed += int(episode.passed)
        self.tokens += episode.prompt_tokens + episode.completion_tokens
        self.progress.update(self.task, advance=1, accuracy=f"{self.passed / self.done:.0%}", tokens=self.tokens)
