"""`grasp gate`: the acceptance gate for a skill written anywhere (by hand, by a coding agent, imported)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from ..config import RunConfig, load_yaml, model_config_from
from ..edits import Edit, EditKind
from ..errors import ValidationError
from ..improve.standalone import gate
from ..models import load_model
from ..registry import load_environment
from ..skillfiles import import_skills, parse_skill_file
from ..store import Database, LibraryStore
from ._common import ApiKeyOption, DbOption, console, db_path
from .library import load_edit


def candidate_edit(path: Path, skills: dict) -> Edit:
    """The edit a candidate file means: a SKILL.md file or a folder holding one skill (ADD, or MODIFY of a skill of
    that name), or an edit as YAML/JSON. A bad file is one line naming it and the field."""
    if path.is_dir():
        found = import_skills(path).skills
        if len(found) != 1:
            raise ValidationError(f"{path}: holds {len(found)} skills; gate one skill at a time")
        skill = found[0]
    elif path.suffix.lower() == ".md":
        skill, _ = parse_skill_file(path)
    else:
        return load_edit(path)
    return Edit(kind=EditKind.MODIFY if skill.name in skills else EditKind.ADD, skill=skill, rationale=f"gate {path}")


def gate_command(
    library: Annotated[str, typer.Argument(help="The library to gate against (created empty if it does not exist).")],
    candidate: Annotated[Path, typer.Argument(help="A SKILL.md file, a folder with one, or an edit YAML.")],
    config: Annotated[Path | None, typer.Option(help="Run config YAML: environment, model, probe size, rule.")] = None,
    env: Annotated[str | None, typer.Option("--env", help="Environment (overrides the config).")] = None,
    model: Annotated[str | None, typer.Option(help="Executor model: YAML, 'local', or openai:MODEL@URL.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Decide and show the evidence; commit nothing.")] = False,
    api_key_env: ApiKeyOption = None,
    db: DbOption = None,
) -> None:
    """Run the gate on one candidate skill: a balanced probe with and without it, committed only if it passes."""
    run_config = load_yaml(config, RunConfig) if config else RunConfig()
    updates: dict = {"environment": env} if env else {}
    if model:
        updates["executor"] = model_config_from(model, api_key_env=api_key_env).model_dump(mode="json")
    run_config = RunConfig.model_validate({**run_config.model_dump(mode="json"), **updates})
    path = db_path(db)
    store = LibraryStore(Database(path))
    current = store.version(library).skills if library in {info.name for info in store.list()} else {}
    edit = candidate_edit(candidate, current)  # a bad file stops here, before any model loads or anything is stored
    environment = load_environment(run_config.environment, max_rounds=run_config.max_rounds,
                                   **run_config.environment_options)
    executor = load_model(run_config.executor)

    async def main():
        try:
            return await gate(environment, executor, edit, library=library, config=run_config, db=path,
                              dry_run=dry_run)
        finally:
            await environment.aclose()

    verdict = asyncio.run(main())
    p = f", p={verdict.p_value:.3g}" if verdict.p_value is not None else ""
    console.print(f"gate: {'accepted' if verdict.accepted else 'refused'} {verdict.edit} on {len(verdict.probe)} probe "
                  f"item(s): fixed {len(verdict.fixed)}, broken {len(verdict.broken)}{p} ({verdict.reason})",
                  markup=False)
    for what, items in (("fixed", verdict.fixed), ("broken", verdict.broken)):
        for task_id in items:
            console.print(f"  {what}: {task_id}", markup=False)
    if verdict.committed is not None:
        console.print(f"committed {verdict.committed.ref}   run {verdict.run_id}", markup=False)
    else:
        said = "dry run: nothing committed" if dry_run else "nothing committed; the refusal is recorded"
        console.print(f"{said}   run {verdict.run_id}", markup=False)
