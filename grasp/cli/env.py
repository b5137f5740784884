"""`grasp env ...`: build and serve the built-in environments."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..errors import NotFoundError
from ._common import console

app = typer.Typer(help="Build and serve the built-in environments.", no_args_is_help=True)
KNOWN = ("fhir",)


def _check(name: str) -> None:
    if name not in KNOWN:
        raise NotFoundError(f"no built-in environment {name!r} (have: {', '.join(KNOWN)})")


def build_world_with_progress(seed: int, patients: int):
    """Open the cached FHIR world, building it with a progress bar when missing."""
    from environments.fhir.storage import WorldStore, world_path

    path = world_path(seed, patients)
    with Progress(TextColumn("building FHIR world"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("build", total=None)
        store = WorldStore.open(seed, patients, progress=lambda done, total: progress.update(task, completed=done, total=total))
    return store, path


@app.command()
def build(
    name: str,
    seed: Annotated[int, typer.Option(help="World seed.")] = 42,
    patients: Annotated[int, typer.Option(help="Number of patients.")] = 100,
) -> None:
    """Build (or find in the cache) the world of environment NAME."""
    _check(name)
    from sqlalchemy import func, select

    from environments.fhir.storage import resources

    store, path = build_world_with_progress(seed, patients)
    with store.engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(resources)).scalar()
    console.print(f"FHIR world ready: {count} resources, {path.stat().st_size / 1e6:.1f} MB at {path}")


@app.command()
def serve(
    name: str,
    port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    seed: Annotated[int, typer.Option(help="World seed.")] = 42,
    patients: Annotated[int, typer.Option(help="Number of patients.")] = 100,
) -> None:
    """Serve environment NAME over HTTP (FHIR base: http://HOST:PORT/fhir/)."""
    _check(name)
    import uvicorn

    from environments.fhir.server import create_app

    store, _ = build_world_with_progress(seed, patients)
    console.print(f"FHIR R4 server on http://{host}:{port}/fhir/ (Ctrl-C to stop)")
    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")
