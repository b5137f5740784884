"""The gated improvement loop: ``improve(environment, model, config)``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from ..config import RunConfig
from ..environment import Environment, Episode
from ..models.base import Model
from ..models.metered import MeteredModel
from ..store import Database, LibraryStore, Version
from ..store.runs import ReplyCache, RunStore
from .loop import Event, Improver
from .state import RunState


class ImproveResult(BaseModel):
    run_id: str
    library: Version
    state: RunState


async def improve(
    environment: Environment,
    model: Model,
    config: RunConfig | None = None,
    *,
    db: str | Path = "grasp.db",
    proposer: Model | None = None,
    resume: str | None = None,
    run_id: str | None = None,
    on_event: Event | None = None,
    on_episode=None,
) -> ImproveResult:
    """Learn a library for ``environment`` with ``model``; returns the run and its final library.

    ``resume`` continues the stored run of that id from its last finished step.
    """
    database = Database(db)
    libraries, runs = LibraryStore(database), RunStore(database)
    if resume:
        info = runs.get(resume)
        config = RunConfig.model_validate(info.config)
        state = RunState.model_validate(info.state or {})
        run_id, library = info.id, info.library or info.id
        runs.update(run_id, status="running")
    else:
        config = config or RunConfig()
        run_id = runs.create(kind="improve", environment=environment.name, config=config.model_dump(mode="json"),
                             manifest_hash=environment.manifest_hash(), library=config.library, run_id=run_id)
        library = config.library or run_id
        runs.update(run_id, library=library)
        libraries.create(library, capacity=config.loop.capacity, exist_ok=True)
        state = RunState()
    cache = ReplyCache(database) if config.cache else None

    def metered(inner: Model, role: str) -> MeteredModel:
        return MeteredModel(inner, role=role, runs=runs, run_id=run_id, cache=cache)

    executor = metered(model, "executor")
    improver = Improver(environment, executor, metered(proposer or model, "proposer"),
                        metered(proposer or model, "classifier"), config, libraries, runs, run_id, library, state,
                        on_event=on_event, on_episode=on_episode)
    try:
        await improver.run()
    except BaseException:
        runs.update(run_id, status="interrupted", state=state.model_dump(mode="json"))
        raise
    summary = {"headline": _headline(state), "test": state.test, "accepted": state.accepted,
               "refused": state.refused, "gate_episodes": state.gate_episodes,
               "gate_episodes_saved": state.gate_episodes_saved}
    runs.update(run_id, status="finished", summary=summary, state=state.model_dump(mode="json"))
    return ImproveResult(run_id=run_id, library=libraries.version(library), state=state)


def _headline(state: RunState) -> str:
    if not state.test:
        return ""
    none, final = state.test["no_skills"], state.test["final"]
    return f"test {none['accuracy']:.0%} -> {final['accuracy']:.0%}"


__all__ = ["Episode", "ImproveResult", "improve"]
