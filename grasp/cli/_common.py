"""What every CLI command shares: the database option, the console, error handling."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ..store import LibraryStore, default_db_path

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)

DbOption = Annotated[
    Path | None,
    typer.Option("--db", envvar="GRASP_DB", help="SQLite database file [default: ./grasp.db or $GRASP_DB]."),
]


ApiKeyOption = Annotated[
    str | None,
    typer.Option("--api-key-env", help="Environment variable holding the endpoint's API key (sent only when named)."),
]


def db_path(db: Path | None) -> Path:
    return db or default_db_path()


def open_store(db: Path | None) -> LibraryStore:
    return LibraryStore(db_path(db))


