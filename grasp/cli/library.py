"""`grasp library ...`: inspect and change versioned skill libraries.

Each command opens the store, calls one store function and prints; no logic
lives only here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..config import load_yaml
from ..edits import Edit
from ..errors import ValidationError
from ..skillfiles import export_skills, import_skills, render_skill_file
from ..diff import diff_versions
from ..store.library import DEFAULT_CAPACITY
from ..store import Database
from ..store.runs import RunStore
from ..usage import library_usage
from ._common import DbOption, console, db_path, open_store

app = typer.Typer(help="Create, inspect, diff, restore, export and import skill libraries.", no_args_is_help=True)


@app.command()
def init(
    name: str,
    capacity: Annotated[int, typer.Option(help="Most skills the library may hold.")] = DEFAULT_CAPACITY,
    db: DbOption = None,
) -> None:
    """Create an empty library NAME."""
    version = open_store(db).create(name, capacity=capacity)
    console.print(f"created library {name} (capacity {capacity}) at version {version.number}")


@app.command("list")
def list_libraries(db: DbOption = None) -> None:
    """List the libraries in the database."""
    infos = open_store(db).list()
    if not infos:
        console.print("no libraries yet (create one with 'grasp library init NAME')")
        return
    table = Table("library", "head", "skills", "capacity")
    for info in infos:
        table.add_row(info.name, str(info.head), str(info.skill_count), str(info.capacity))
    console.print(table)


@app.command()
def log(
    name: str,
    decisions: Annotated[bool, typer.Option("--decisions", help="Also list refused edits.")] = False,
    db: DbOption = None,
) -> None:
    """List the versions of NAME, newest first, with each edit's evidence."""
    store = open_store(db)
    for version in reversed(store.versions(name)):
        what = version.edit.summary() if version.edit else version.message
        line = Text(f"v{version.number:<4}", style="bold")
        line.append(f" {version.created_at:%Y-%m-%d %H:%M} {version.origin:<9} {what}")
        if version.evidence:
            line.append(f"  [{version.evidence.one_line()}]", style="dim")
        console.print(line, soft_wrap=True)
    if decisions:
        refused = [d for d in store.decisions(name) if d.result_version is None]
        console.print(f"\nrefused edits: {len(refused)}")
        for decision in refused:
            what = decision.edit.summary() if decision.edit else "(no edit)"
            console.print(f"  on v{decision.base_version}, {decision.stage}: {what}  ({decision.evidence.one_line()})",
                          markup=False)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME[@VERSION]")],
    skill: Annotated[str | None, typer.Argument(help="Show only this skill.")] = None,
    db: DbOption = None,
) -> None:
    """Print a version of a library, or one of its skills."""
    version = open_store(db).resolve(ref)
    runs = RunStore(Database(db_path(db)))
    if skill is not None:
        if skill not in version.skills:
            raise ValidationError(f"{version.ref} has no skill {skill!r} (it has: {', '.join(version.skills) or 'none'})")
        console.print(render_skill_file(version.skills[skill], version=version.number), markup=False)
        return
    console.print(f"[bold]{version.ref}[/]  {version.origin}  {version.created_at:%Y-%m-%d %H:%M}  hash {version.content_hash[:12]}")
    console.print(f"message: {version.message}", markup=False)
    if version.evidence:
        console.print(f"evidence: {version.evidence.one_line()}", markup=False)
    console.print(f"{len(version.skills)} skill(s)")
    uses = {use.skill: use for use in library_usage(runs, version.library, version.skills)}
    for item in version.skills.values():
        console.print(f"\n[bold]## {item.name}[/]  ({', '.join(item.tags) or 'no tags'})")
        console.print(item.description, markup=False)
        console.print(item.body, markup=False)
        if uses[item.name].shown:
            console.print(f"use in this library's runs: {uses[item.name].line().split(': ', 1)[1]}", markup=False)


@app.command()
def diff(
    name: str,
    a: Annotated[int, typer.Argument(help="Older version number.")],
    b: Annotated[int | None, typer.Argument(help="Newer version number [default: head].")] = None,
    db: DbOption = None,
) -> None:
    """Show skills added, removed and modified between versions A and B."""
    store = open_store(db)
    old, new = store.version(name, a), store.version(name, b)
    lines = diff_versions(old, new)
    if not lines:
        console.print(f"no differences between {old.ref} and {new.ref}")
    for line in lines:
        style = ""
        if line.startswith("+") and not line.startswith("+++"):
            style = "green"
        elif line.startswith("-") and not line.startswith("---"):
            style = "red"
        elif line.startswith("@@"):
            style = "cyan"
        console.print(Text(line, style=style), soft_wrap=True)


@app.command()
def checkout(name: str, version: int, db: DbOption = None) -> None:
    """Restore VERSION of NAME as a new version (history is kept)."""
    new = open_store(db).checkout(name, version)
    console.print(f"{new.ref}: restored version {version} ({len(new.skills)} skills)")


@app.command("export")
def export_command(
    ref: Annotated[str, typer.Argument(help="NAME[@VERSION]")],
    folder: Path,
    db: DbOption = None,
) -> None:
    """Write a version as an Agent Skills folder (name/SKILL.md)."""
    version = open_store(db).resolve(ref)
    files = export_skills(list(version.skills.values()), folder, version=version.number, provenance=f"grasp {version.ref}")
    console.print(f"exported {len(files)} skill(s) of {version.ref} to {folder}")


@app.command("import")
def import_command(
    name: str,
    folder: Path,
    merge: Annotated[bool, typer.Option(help="Add to the current skills instead of replacing them.")] = False,
    create: Annotated[bool, typer.Option(help="Create the library if it does not exist.")] = True,
    db: DbOption = None,
) -> None:
    """Import an Agent Skills folder (or Markdown skill files) as a new version."""
    result = import_skills(folder)
    store = open_store(db)
    if create:
        store.create(name, exist_ok=True)
    skills = {skill.name: skill for skill in result.skills}
    if merge:
        skills = {**store.version(name).skills, **skills}
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    version = store.commit_snapshot(name, skills, origin="import", message=f"import {folder}")
    console.print(f"{version.ref}: imported {len(result.skills)} skill(s) from {folder}")


@app.command()
def apply(
    name: str,
    file: Annotated[Path, typer.Argument(help="An edit as JSON or YAML: {kind, skill, target, rationale}.")],
    message: Annotated[str, typer.Option(help="Why this edit.")] = "",
    db: DbOption = None,
) -> None:
    """Apply a hand-written edit, under the same validation and capacity rules. No gate: `grasp gate` judges it first."""
    edit = load_edit(file)
    version = open_store(db).apply(name, edit, origin="human", message=message or edit.summary())
    console.print(f"{version.ref}: {edit.summary()}")


def load_edit(file: Path) -> Edit:
    """Read an edit from a JSON or YAML file, with errors that name the file and field."""
    return load_yaml(file, Edit, what="file", error=ValidationError)


@app.command()
def attribute(
    ref: Annotated[str, typer.Argument(help="Library NAME[@VERSION].")],
    split: Annotated[str, typer.Option(help="Split to evaluate on (val by default; test is sealed).")] = "val",
    env: Annotated[str, typer.Option("--env", help="Environment: built-in name or package.module:Class.")] = "fhir",
    model: Annotated[str, typer.Option(help="Executor model: YAML, 'local', or openai:MODEL@URL.")] = "local",
    limit: Annotated[int | None, typer.Option(help="At most N tasks.")] = None,
    family: Annotated[list[str] | None, typer.Option(help="Only this task family (repeatable).")] = None,
    db: DbOption = None,
) -> None:
    """Evaluate the library with each skill left out in turn: which skill earned the gain."""
    import asyncio

    from ..attribution import attribute as attribute_skills
    from ..config import model_config_from
    from ..models import MeteredModel, load_model
    from ..registry import load_environment
    from ..store import Database
    from ..store.runs import ReplyCache, RunStore
    from ._common import db_path

    database = Database(db_path(db))
    version = open_store(db).resolve(ref)
    environment = load_environment(env)
    tasks = [t for t in environment.tasks(split) if not family or t.family in family][:limit]
    runs = RunStore(database)
    run_id = runs.create(kind="attribute", environment=environment.name, library=version.library,
                         config={"library": version.ref, "split": split, "model": model, "limit": limit},
                         manifest_hash=environment.manifest_hash())
    executor = MeteredModel(load_model(model_config_from(model)), role="executor", runs=runs, run_id=run_id,
                            cache=ReplyCache(database))
    console.print(f"{version.ref}: {len(version.skills)} skill(s), {len(tasks)} task(s) of {split}, "
                  f"{1 + len(version.skills)} evaluations")

    async def main():
        try:
            return await attribute_skills(environment, executor, tasks, version.skills, runs=runs, run_id=run_id)
        finally:
            await environment.aclose()

    accuracy, credits = asyncio.run(main())
    table = Table("skill", "fixed by it", "broken by it", "net", "exact McNemar p", "accuracy without it")
    for credit in credits:
        c = credit.comparison
        table.add_row(credit.skill, str(c.fixed), str(c.broken), f"{c.fixed - c.broken:+d}", f"{c.p_value:.3g}",
                      f"{c.before / max(1, c.total):.1%}")
    console.print(table)
    console.print(f"full library: {accuracy:.1%}")
    runs.update(run_id, status="finished", summary={"accuracy": accuracy,
                                                    "credits": [c.model_dump(mode="json") for c in credits]})
