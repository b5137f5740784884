"""`grasp eval` and `grasp runs`: evaluate a library, list and show stored runs."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from ..agent.selection import Selection
from ..config import HELD_OUT_BASE, RunConfig, load_yaml, model_config_from
from ..errors import ConfigError, ValidationError
from ..environment import Episode
from ..evaluate import EvalResult, evaluate
from ..models import MeteredModel, load_model
from ..registry import load_environment
from ..costs import role_prices, usage_cost
from ..yardsticks import Score, score, sealed_lines, strata_of, trivial_episodes
from ..store import Database, LibraryStore
from ..store.runs import ReplyCache, RunStore
from ._common import ApiKeyOption, DbOption, console, db_path, err_console
from .progress import EpisodeProgress

runs_app = typer.Typer(help="List and inspect stored runs.", no_args_is_help=True)


def eval_command(
    config: Annotated[Path | None, typer.Option(help="A run config YAML: its environment (and options), executor, "
                                                     "rounds, last-round notice, concurrency and sealed world, so "
                                                     "that eval measures what that run measured; options given "
                                                     "here win.")] = None,
    env: Annotated[str | None, typer.Option("--env", help="Environment: built-in name, package.module:Class, or an "
                                                          "entry point in grasp.environments [default: the "
                                                          "config's, else fhir].")] = None,
    split: Annotated[str, typer.Option(help="Split to evaluate (dev, val, ood; test is the sealed split).")] = "val",
    library: Annotated[str | None, typer.Option(help="Library NAME[@VERSION] to inject.")] = None,
    no_skills: Annotated[bool, typer.Option("--no-skills", help="Evaluate with no skills.")] = False,
    reference: Annotated[bool, typer.Option("--reference", help="Evaluate the environment's hand-written "
                                                                "reference library.")] = False,
    max_rounds: Annotated[int | None, typer.Option(help="Rounds per episode [default: the environment's].")] = None,
    notice: Annotated[str | None, typer.Option(help="The line added before the executor's last action "
                                                    "[default: the run config's]; '' for none.")] = None,
    model: Annotated[str | None, typer.Option(help="Model config YAML, 'local', or openai:MODEL@URL [default: the "
                                                   "config's executor, else local].")] = None,
    api_key_env: ApiKeyOption = None,
    routing: Annotated[str | None, typer.Option(help="How skills are chosen: family (the task's family label) or "
                                                     "words (its text against each skill's description and name, "
                                                     "as a deployed agent) [default: the config's, else family].")] = None,
    limit: Annotated[int | None, typer.Option(help="At most N tasks.")] = None,
    family: Annotated[list[str] | None, typer.Option(help="Only this task family (repeatable).")] = None,
    concurrency: Annotated[int | None, typer.Option(help="Episodes in flight [default: the config's, else 1].")] = None,
    cache: Annotated[bool, typer.Option(help="Reuse temperature-0 replies from earlier runs.")] = True,
    base_url: Annotated[str | None, typer.Option(help="Use an external FHIR server at this base URL.")] = None,
    task_file: Annotated[Path | None, typer.Option(help="MedAgentBench task file (--env medagentbench).")] = None,
    sealed_world: Annotated[int | None, typer.Option(help="--split test: the held-out world to read, as a run's "
                                                          "sealed_world [default: run seed 0's, "
                                                          f"{HELD_OUT_BASE}].")] = None,
    db: DbOption = None,
) -> None:
    """Evaluate a library (or no skills) on a split; the run is stored."""
    if sum((library is not None, no_skills, reference)) != 1:
        raise ValidationError("give exactly one of --library NAME[@VERSION], --no-skills or --reference")
    run_config = load_yaml(config, RunConfig) if config else RunConfig()
    if routing not in (None, "family", "words"):
        raise ValidationError(f"--routing {routing!r}: family or words")
    selection = run_config.selection if config else Selection()  # without a config: 3 skills an episode, as always
    selection = replace(selection, routing=routing or selection.routing)
    env = env or run_config.environment
    max_rounds = max_rounds or run_config.max_rounds
    concurrency = concurrency or run_config.concurrency
    database = Database(db_path(db))
    options = {**(run_config.environment_options if env == run_config.environment else {}),
               **{key: value for key, value in (("base_url", base_url), ("task_file", task_file),
                                                ("max_rounds", max_rounds)) if value}}
    environment = load_environment(env, **options)
    if split == "test":  # the sealed split is a held-out world's, as in every run (Environment.held_out)
        environment = environment.held_out(run_config.sealed_world_seed if sealed_world is None else sealed_world)
    skills = {}
    if library:
        skills = LibraryStore(database).resolve(library).skills
    elif reference:
        skills = {skill.name: skill for skill in environment.reference_library()}
        if not skills:
            raise ConfigError(f"environment {env!r} ships no reference library")
        library = "reference"
    notice = run_config.with_notice_of(environment).advanced.last_round_notice if notice is None else (notice or None)
    tasks = environment.tasks("all" if env == "medagentbench" else split)
    if family:
        unknown = set(family) - {task.family for task in tasks}
        if unknown:
            raise ConfigError(f"no task family {', '.join(sorted(unknown))} in split {split!r}")
        tasks = [task for task in tasks if task.family in family]
    tasks = tasks[:limit] if limit else tasks
    executor_config = model_config_from(model, api_key_env=api_key_env) if model else run_config.executor
    executor = load_model(executor_config)  # before a run is stored
    model = model or ("local" if executor_config.provider == "local" else f"openai:{executor_config.model}@{executor_config.base_url}")
    runs = RunStore(database)
    config = {"split": split, "library": library, "model": model, "limit": limit, "families": family,
              "skills_per_episode": selection.k, "routing": selection.routing,
              "max_rounds": max_rounds, "notice": notice, "world": environment.world()}
    run_id = runs.create(kind="eval", environment=env, config=config, manifest_hash=environment.manifest_hash(),
                         library=library)
    if split == "test" and env != "medagentbench":
        err_console.print(f"test: the sealed split of {environment.world() or 'the environment'}; every read of "
                          "it weakens what it can tell you (tune on val)", markup=False)
    metered = MeteredModel(executor, role="executor", runs=runs, run_id=run_id,
                           cache=ReplyCache(database) if cache else None)
    console.print(f"run {run_id}: {len(tasks)} task(s) of {env}/{split} with "
                  f"{library or 'no skills'} on {metered.id}")

    async def main() -> tuple[EvalResult, list[Episode]]:
        try:
            with EpisodeProgress("eval", len(tasks)) as progress:
                result = await evaluate(environment, metered, tasks, skills, runs=runs, run_id=run_id, selection=selection,
                                        concurrency=concurrency, notice=notice, on_episode=progress)
            return result, await trivial_episodes(environment, tasks)  # while the environment is still open
        finally:
            await environment.aclose()
            await metered.aclose()

    try:
        result, trivial = asyncio.run(main())
    except KeyboardInterrupt:
        runs.update(run_id, status="interrupted")
        raise
    low, high = result.interval()
    summary = {"accuracy": result.accuracy, "passed": result.passed, "total": len(result.episodes),
               "ci95": [low, high], "per_family": {s.family: [s.passed, s.total] for s in result.per_family()},
               "cache_hits": metered.hits, "cache_misses": metered.misses}
    strata = strata_of(environment, tasks)
    summary["strata"] = score({e.task_id: e.passed for e in result.episodes}, strata).strata
    summary["trivial"] = score({e.task_id: e.passed for e in trivial}, strata).model_dump()
    runs.update(run_id, status="finished", summary=summary)
    print_eval(result, summary["strata"])
    console.print(f"trivial answer: {Score.model_validate(summary['trivial']).line()}", markup=False)


def print_eval(result: EvalResult, by_stratum: dict[str, list[int]] | None = None) -> None:
    table = Table("family", "passed", "total", "accuracy")
    for family_score in result.per_family():
        table.add_row(family_score.family, str(family_score.passed), str(family_score.total),
                      f"{family_score.accuracy:.1%}")
    if by_stratum and len(by_stratum) > 1:
        for name, (passed, total) in by_stratum.items():
            table.add_row(f"[italic]stratum {name}", str(passed), str(total), f"{passed / total:.1%}")
    low, high = result.interval()
    table.add_row("[bold]all", str(result.passed), str(len(result.episodes)),
                  f"[bold]{result.accuracy:.1%}[/] (95% CI {low:.0%}-{high:.0%})")
    console.print(table)


def _fields(info) -> tuple[str, ...]:
    """The short fields of a run as `runs list` aligns them."""
    return info.id, info.kind, info.environment, info.status, f"{info.created_at:%m-%d %H:%M}"


@runs_app.command("list")
def list_runs(db: DbOption = None) -> None:
    """List runs, newest first."""
    infos = RunStore(Database(db_path(db))).list()
    if not infos:
        console.print("no runs yet")
        return
    # The run id is what a user copies into `runs show` and `report`: never cut. One line per run with the
    # short fields aligned, then its library (when not the run's own) and result, indented and wrapped.
    heading = ("run", "kind", "env", "status", "created")
    widths = [max(len(row[column]) for row in [heading, *map(_fields, infos)]) for column in range(len(heading))]

    def aligned(row: tuple[str, ...]) -> str:
        return "  ".join(f"{field:<{width}}" for field, width in zip(row, widths, strict=True)).rstrip()

    console.print(aligned(heading), style="bold", markup=False)
    for info in infos:
        console.print(aligned(_fields(info)), markup=False)
        summary = info.summary or {}
        result = f"{summary['accuracy']:.1%}" if "accuracy" in summary else summary.get("headline", "")
        library = f"library {info.library}; " if info.library and info.library != info.id else ""
        if library or result:
            console.print(Padding(Text(f"{library}{result}"), (0, 0, 0, 4)), soft_wrap=False)


@runs_app.command("show")
def show_run(run_id: str, db: DbOption = None) -> None:
    """Show one run: config, status, summary and token usage per role."""
    store = RunStore(Database(db_path(db)))
    info = store.get(run_id)
    console.print(f"[bold]{info.id}[/]  {info.kind} on {info.environment}  status {info.status}")
    console.print(f"manifest {info.manifest_hash or '-'}  library {info.library or '-'}")
    console.print("config:\n" + yaml.safe_dump(info.config, sort_keys=False, allow_unicode=True).rstrip(), markup=False)
    if info.summary:
        summary = {key: value for key, value in info.summary.items() if key != "test"}
        console.print(f"summary: {summary}", markup=False)
        test = info.summary.get("test") or {}
        for line in sealed_lines(test):
            console.print(line, markup=False, soft_wrap=True)
    prices = role_prices(info.config)
    usage = store.usage(run_id)
    for row in usage:  # model names on lines of their own: a table cell would cut them at 80 columns
        console.print(f"{row.role}: {row.model}", markup=False)
    table = Table("role", "calls", "cached", "prompt tok", "completion tok", "model s", "cost USD")
    for row in usage:
        cost = usage_cost(row, prices)
        table.add_row(row.role, str(row.calls), str(row.cached_calls), str(row.prompt_tokens),
                      str(row.completion_tokens), f"{row.seconds:.1f}", f"{cost:.4f}" if cost is not None else "-")
    console.print(table)
    console.print(f"episodes stored: {store.count_episodes(run_id)}")


SEALED_ARMS = ("none", "final", "reference")  # the sealed test's episodes: test:<arm>:<task id>:...


@runs_app.command("items")
def run_items(
    run_id: str,
    changed: Annotated[bool, typer.Option("--changed", help="Only items whose outcome differs between no skills "
                                                           "and the final library.")] = False,
    db: DbOption = None,
) -> None:
    """The sealed test item by item: each answer with no skills, with the final library and with the reference
    library, and whether learning fixed or broke it. A percentage that a constant answer can match says less
    than the answers themselves."""
    store = RunStore(Database(db_path(db)))
    store.get(run_id)  # a clear error for an unknown run
    answers: dict[str, dict[str, Episode]] = {}
    for arm in SEALED_ARMS:
        for episode in store.episodes(run_id, phase="test", key_prefix=f"test:{arm}:"):
            answers.setdefault(episode.task_id, {})[arm] = episode
    if not answers:
        console.print(f"run {run_id} has no sealed-test episodes")
        return
    table = Table("item", "family", "no skills", "final", "change", "reference")
    counts = {"fixed": 0, "broken": 0}
    for task_id in sorted(answers):
        arms = answers[task_id]
        before, after = arms.get("none"), arms.get("final")
        change = ""
        if before is not None and after is not None and before.passed != after.passed:
            change = "fixed" if after.passed else "broken"
            counts[change] += 1
        if changed and not change:
            continue
        family = next(iter(arms.values())).family
        table.add_row(task_id, family, _answer(before), _answer(after), change,
                      _answer(arms.get("reference")))
    console.print(table)
    console.print(f"fixed {counts['fixed']}, broken {counts['broken']} of {len(answers)} item(s)")


def _answer(episode: Episode | None) -> str:
    if episode is None:
        return "-"
    shown = ", ".join(str(value) for value in episode.answer) if episode.answer is not None else "no answer"
    return f"{'pass' if episode.passed else 'fail'}: {shown[:40]}"
