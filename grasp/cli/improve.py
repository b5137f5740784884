"""`grasp improve` and `grasp report`: run the gated loop with a live view; write the HTML report."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from ..config import Budget, RunConfig, load_yaml, model_config_from, stored_config
from ..environment import Environment
from ..errors import BudgetReached, ConfigError
from ..estimate import Estimate, estimate_run
from ..improve import improve
from ..models import ModelUnavailable, load_model
from ..registry import load_environment
from ..store import Database
from ..yardsticks import sealed_lines
from ..store.runs import RunStore, new_run_id
from ._common import ApiKeyOption, DbOption, console, db_path, err_console
from .progress import EpisodeProgress


class LiveView:
    """Episode progress per phase, plus one line per decision and epoch."""

    def __init__(self) -> None:
        self.progress = EpisodeProgress("starting", 1)
        self.started = time.perf_counter()
        self.accepted = self.refused = 0

    def event(self, kind: str, data: dict) -> None:
        line = None
        if kind == "phase":
            self.progress.relabel(data["label"], data["total"])
            if not console.is_terminal:
                line = f"{data['label']}: {data['total']} episode(s)"
        elif kind == "batch":
            line = f"batch {data['key']}: dev accuracy {data['accuracy']:.0%} with {data['skills']} skill(s)"
        elif kind == "accepted":
            self.accepted += 1
            line = f"[green]accepted[/] {data['origin']} {data['edit']} -> v{data['version']}: {data['evidence']}"
        elif kind == "refused":
            self.refused += 1
            line = f"[red]refused[/] {data['origin']} {data['edit']}: {data['evidence']}"
        elif kind == "val":
            line = f"[bold]val after epoch {data['epoch']}[/]: {data['accuracy']:.1%} ({data['passed']}/{data['total']})"
        elif kind == "estimate":
            line = f"[dim]estimate: {Estimate.model_validate(data).line()}[/]"
        elif kind == "note":
            line = f"[dim]{data['text']}[/]"
        elif kind == "test":
            line = f"[bold]sealed test[/] read ({data['final']['skills']} skill(s) in the final library)"
        if line:
            elapsed = time.perf_counter() - self.started
            self.progress.progress.console.print(f"[dim]{elapsed:6.0f}s[/] {line}  "
                                                 f"[dim](accepted {self.accepted}, refused {self.refused})[/]",
                                                 soft_wrap=True)


def improve_command(
    config: Annotated[Path | None, typer.Option(help="Run config YAML (see configs/).")] = None,
    env: Annotated[str | None, typer.Option("--env", help="Environment (overrides the config): built-in name, "
                                                          "package.module:Class, or an entry point.")] = None,
    model: Annotated[str | None, typer.Option(help="Executor model: YAML, 'local', or openai:MODEL@URL.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (overrides the config; the config's library becomes "
                                                  "NAME-sSEED, so that seeds never share one).")] = None,
    library: Annotated[str | None, typer.Option(help="Library to learn into (overrides the config).")] = None,
    method: Annotated[str | None, typer.Option(help="Method preset (overrides the config): grasp, grasp-bare, "
                                                    "ungated-k1, ... (grasp/presets.py).")] = None,
    continue_library: Annotated[bool, typer.Option(help="Build on a library that an earlier run learned "
                                                        "into.")] = False,
    resume: Annotated[str | None, typer.Option(help="Continue the stored run RUN from its last finished step.")] = None,
    force: Annotated[bool, typer.Option(help="Resume even when the environment, a model or the tasks differ from the "
                                             "run's record (the override is recorded).")] = False,
    estimate: Annotated[bool, typer.Option("--estimate", help="Print what the run would cost at most (episodes by "
                                                               "phase, calls and tokens by role, time, money) and "
                                                               "exit; nothing runs.")] = False,
    budget_episodes: Annotated[int | None, typer.Option(help="Pause (resumable) once the run has stored this many "
                                                             "episodes (overrides advanced.budget).")] = None,
    budget_usd: Annotated[float | None, typer.Option(help="Pause (resumable) once the run has spent this many dollars "
                                                          "at the configured prices.")] = None,
    api_key_env: ApiKeyOption = None,
    db: DbOption = None,
) -> None:
    """Learn a skill library: epochs of batches, each ending in at most one gated edit."""
    path = db_path(db)
    if resume:
        run_config = stored_config(RunStore(Database(path)).get(resume).config, run_id=resume)
    else:
        run_config = load_yaml(config, RunConfig) if config else RunConfig()
        updates: dict = {}
        if env:
            updates["environment"] = env
        if seed is not None:
            updates["seed"] = seed
            if run_config.library and not library:
                updates["library"] = f"{run_config.library}-s{seed}"
        if library:
            updates["library"] = library
        if model:
            updates["executor"] = model_config_from(model, api_key_env=api_key_env).model_dump(mode="json")
        if method:
            updates["method"] = method
        try:
            run_config = RunConfig.model_validate({**run_config.model_dump(mode="json"), **updates})
        except ValidationError as problem:
            raise ConfigError(f"--method {method}: {problem.errors()[0]['msg']}") from None
    environment = load_environment(run_config.environment, max_rounds=run_config.max_rounds,
                                   **run_config.environment_options)
    if estimate:
        sealed = environment.held_out(run_config.sealed_world_seed)
        try:
            console.print(f"estimate: {estimate_run(environment, sealed, run_config, RunStore(Database(path))).line()}",
                          markup=False, soft_wrap=True)
        finally:
            asyncio.run(_close(environment, sealed))
        return
    budget = None
    if budget_episodes is not None or budget_usd is not None:
        budget = Budget(episodes=budget_episodes, usd=budget_usd)
    executor = load_model(run_config.executor)
    proposer = load_model(run_config.proposer) if run_config.proposer else None
    view = LiveView()
    run_id = resume or new_run_id("improve")  # known before anything runs, so a stop can name it

    async def main():
        try:
            with view.progress:
                return await improve(environment, executor, run_config, db=path, proposer=proposer, resume=resume,
                                     force=force, run_id=None if resume else run_id, on_event=view.event,
                                     continue_library=continue_library, budget=budget,
                                     on_episode=view.progress)
        finally:
            await environment.aclose()

    try:
        result = asyncio.run(main())
    except KeyboardInterrupt:
        _say_how_to_resume(path, run_id, "interrupted")
        raise typer.Exit(130) from None
    except BudgetReached as error:
        _say_how_to_resume(path, run_id, f"paused: {error}", status="paused",
                           more=" --budget-episodes N (or --budget-usd X) larger than the last")
        raise typer.Exit(75) from None
    except ModelUnavailable as error:
        _say_how_to_resume(path, run_id, f"paused: {error}", status="paused")
        raise typer.Exit(75) from None
    state, counts = result.state, result.counts
    origins = ", ".join(f"{origin} {n}" for origin, n in counts.accepted_by_origin.items())
    console.print(f"\n[bold]run {result.run_id}[/] finished: library {result.library.ref} "
                  f"({len(result.library.skills)} skill(s)); accepted {counts.accepted}"
                  + (f" ({origins})" if origins else "") + f", refused {counts.refused}; "
                  f"gate episodes {counts.gate_episodes} (+{counts.gate_episodes_saved} saved by early reject); "
                  f"exploration episodes {counts.explore_episodes}; trial episodes {counts.trial_episodes} "
                  f"({counts.refused_at_trial} refused at trial); search calls {counts.search_calls}")
    if state.test:
        console.print("no skills -> final library, on the same sealed items:")
        for line in sealed_lines(state.test):
            console.print(line, markup=False, soft_wrap=True)
    if state.estimate:
        console.print(f"spent {counts_episodes(path, result.run_id)} episodes; estimated at most "
                      f"{Estimate.model_validate(state.estimate).total_episodes} before the run", markup=False)
    for use in result.usage:
        console.print(f"skill use: {use.line()}", markup=False, soft_wrap=True)
    console.print(f"inspect: grasp library log {result.library.library}   report: grasp report {result.run_id}")


def counts_episodes(path: Path, run_id: str) -> int:
    return RunStore(Database(path)).count_episodes(run_id)


async def _close(*environments: Environment) -> None:
    for environment in dict.fromkeys(environments):
        await environment.aclose()


def _say_how_to_resume(path: Path, run_id: str, what: str, status: str = "interrupted", more: str = "") -> None:
    RunStore(Database(path)).update(run_id, status=status)
    err_console.print(f"{what}. Nothing is lost; continue with:\n  grasp improve --resume {run_id}"
                      + (f" --db {path}" if str(path) != "grasp.db" else "") + more)


def report_command(
    run_id: str,
    out: Annotated[Path | None, typer.Option(help="HTML file to write [default: reports/RUN.html].")] = None,
    db: DbOption = None,
) -> None:
    """Write a self-contained HTML report of an improve run."""
    from ..report import write_report

    target = out or Path("reports") / f"{run_id}.html"
    info = RunStore(Database(db_path(db))).get(run_id)
    if info.kind != "improve":
        raise ConfigError(f"run {run_id} is an {info.kind} run; reports are for improve runs")
    write_report(Database(db_path(db)), run_id, target)
    console.print(f"report written to {target}")
