"""The `grasp` command line: a thin layer over the Python API."""

from __future__ import annotations

import sys

import typer

from ..errors import GraspError
from . import bench, doctor, env, evaluation, gate, improve, library

app = typer.Typer(
    name="grasp",
    help="Learn a small, proven library of skills from an agent's own failures.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(library.app, name="library")
app.add_typer(env.app, name="env")
app.add_typer(evaluation.runs_app, name="runs")
app.command("eval")(evaluation.eval_command)
app.command("improve")(improve.improve_command)
app.command("report")(improve.report_command)
app.command("bench")(bench.bench_command)
app.command("doctor")(doctor.doctor_command)
app.command("gate")(gate.gate_command)


def main() -> None:
    """Entry point: user errors become one line on stderr and exit status 1."""
    from ._common import err_console

    try:
        app()
    except GraspError as error:
        err_console.print(f"error: {error}", style="bold red", soft_wrap=True, markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
