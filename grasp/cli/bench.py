"""`grasp bench`: the paper's comparisons as one command (methods x seeds, paired statistics)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..bench import BenchResult, bench_estimate, markdown, run_bench, seeds_from, tabulate, write_html
from ..config import RunConfig, load_yaml, model_config_from, stored_config
from ..errors import ConfigError
from ..improve.methods import METHODS, YARDSTICKS
from ..models import ModelUnavailable, load_model
from ..registry import load_environment
from ..store import Database
from ..store.runs import RunStore
from ._common import ApiKeyOption, DbOption, console, db_path, err_console


def bench_command(
    config: Annotated[Path | None, typer.Argument(help="Run config YAML: the sizes every method shares.")] = None,
    methods: Annotated[str, typer.Option(help=f"Comma-separated methods: {', '.join(METHODS)}; and rows that learn "
                                              f"nothing, {', '.join(YARDSTICKS)} (all three when none is named).")] =
        "grasp,ungated-k1,ungated-k4,memory,awm",
    seeds: Annotated[int, typer.Option(help="Number of distinct seeds (the config's seed, +1, +2, ...).")] = 3,
    resume: Annotated[str | None, typer.Option(help="Continue the stored bench BENCH.")] = None,
    table: Annotated[bool, typer.Option("--table", help="With --resume: tabulate the runs finished so far and "
                                                        "run nothing.")] = False,
    out: Annotated[Path, typer.Option(help="Folder for the Markdown and HTML tables.")] = Path("bench"),
    estimate: Annotated[bool, typer.Option("--estimate", help="Print what each run would cost at most and the "
                                                               "total, then exit; nothing runs.")] = False,
    env: Annotated[str | None, typer.Option("--env", help="Environment (overrides the config).")] = None,
    model: Annotated[str | None, typer.Option(help="Executor model: YAML, 'local', or openai:MODEL@URL.")] = None,
    api_key_env: ApiKeyOption = None,
    db: DbOption = None,
) -> None:
    """Run every method x seed as a stored, resumable improve run; print and save the comparison."""
    path = db_path(db)
    if resume:
        stored = RunStore(Database(path)).get(resume)
        if stored.kind != "bench":
            raise ConfigError(f"run {resume} is an {stored.kind} run, not a bench")
        base = stored_config(stored.config["base"], run_id=resume)
        chosen, seed_list, bench_id = stored.config["methods"], stored.config["seeds"], resume
    else:
        if config is None:
            raise ConfigError("give a run config (e.g. configs/bench-small.yaml), or --resume BENCH")
        base = load_yaml(config, RunConfig)
        if env:
            base = base.model_copy(update={"environment": env})
        if model:
            base = base.model_copy(update={"executor": model_config_from(model, api_key_env=api_key_env)})
        chosen = [name.strip() for name in methods.split(",") if name.strip()]
        unknown = [name for name in chosen if name not in METHODS and name not in YARDSTICKS]
        if unknown:
            raise ConfigError(f"unknown method(s) {', '.join(unknown)} (have: {', '.join([*METHODS, *YARDSTICKS])})")
        if all(name in YARDSTICKS for name in chosen):
            raise ConfigError("the rows no-skills, trivial and reference are read from learning methods' runs: "
                              "name at least one of " + ", ".join(METHODS))
        seed_list = seeds_from(base, seeds)
        bench_id = f"bench-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    if table:
        if not resume:
            raise ConfigError("--table reads a stored bench: give --resume BENCH")
        show(tabulate(Database(path), bench_id, chosen, seed_list), out)
        return
    environment = load_environment(base.environment, max_rounds=base.max_rounds, **base.environment_options)
    estimates = asyncio.run(bench_estimate(environment, base, chosen, seed_list, RunStore(Database(path))))
    for method, seed, each in estimates:
        console.print(f"estimate {method}, seed {seed}: {each.line()}", markup=False, soft_wrap=True)
    console.print(f"estimate, the whole bench: at most {sum(each.total_episodes for _, _, each in estimates)} episodes",
                  markup=False)
    if estimate:
        asyncio.run(environment.aclose())
        return
    executor = load_model(base.executor)
    proposer = load_model(base.proposer) if base.proposer else None
    console.print(f"bench {bench_id}: {', '.join(chosen)} x seeds {seed_list}")

    async def main():
        try:
            return await run_bench(environment, executor, base, chosen, seed_list, db=path, bench_id=bench_id,
                                   proposer=proposer,
                                   on_run=lambda method, run_id, seed: console.print(f"[bold]{method}[/], seed {seed}: "
                                                                                   f"run {run_id}"))
        finally:
            await environment.aclose()

    try:
        result = asyncio.run(main())
    except (KeyboardInterrupt, ModelUnavailable) as error:
        RunStore(Database(path)).update(bench_id, status="interrupted")
        err_console.print(f"{'interrupted' if isinstance(error, KeyboardInterrupt) else error}. Nothing is lost; "
                          f"continue with:\n  grasp bench --resume {bench_id}"
                          + (f" --db {path}" if str(path) != "grasp.db" else ""))
        raise typer.Exit(130 if isinstance(error, KeyboardInterrupt) else 75) from None
    show(result, out)


def show(result: BenchResult, out: Path) -> None:
    """Print the comparison and save it as Markdown and HTML under ``out``."""
    bench_id = result.bench_id
    table = Table("method", "sealed test (95% CI)", "per stratum (95% CI)", "per seed: fixed/broken, p",
                  "train/gate/eval episodes", "gate ep./decision (exhaustive)", "wall")
    for row in result.rows:
        per_seed = "; ".join(f"+{p.fixed}/-{p.broken} p={p.p_value:.2g}" for p in row.paired) or "-"
        spent = "/".join(str(row.episodes.get(k, 0)) for k in ("training", "gate", "evaluation")) if row.episodes else "-"
        gate = (f"{row.probe_episodes / row.decisions:.1f} ({row.exhaustive_episodes / row.decisions:.1f})"
                if row.decisions else "-")
        table.add_row(row.method, f"{row.mean:.1%} [{row.low:.0%}, {row.high:.0%}]", row.strata_text(), per_seed,
                      spent, gate, row.wall_text())
    console.print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{bench_id}.md").write_text(markdown(result), encoding="utf-8")
    write_html(result, out / f"{bench_id}.html")
    console.print(f"tables written to {out / bench_id}.md and .html")
