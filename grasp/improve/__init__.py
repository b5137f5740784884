"""The gated improvement loop: ``improve(environment, model, config)``."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from ..config import Budget, RunConfig, stored_config
from ..costs import role_prices, usage_cost
from ..environment import Environment, Episode
from ..models.base import Model
from ..models.metered import MeteredModel
from ..store import Database, LibraryStore, Version
from ..store.runs import ReplyCache, RunStore
from ..usage import SkillUse, skill_usage
from ..errors import ConfigError
from ..estimate import estimate_run
from .counters import RunCounts, run_counts
from .loop import Event, Improver
from .rules import AcceptanceRule
from .sources import CandidateSource
from .state import RunState


class ImproveResult(BaseModel):
    run_id: str
    library: Version
    state: RunState
    counts: RunCounts
    usage: list[SkillUse] = Field(default_factory=list)  # each final skill: shown, followed, passed either way


async def improve(
    environment: Environment,
    model: Model,
    config: RunConfig | None = None,
    *,
    db: str | Path = "grasp.db",
    proposer: Model | None = None,
    resume: str | None = None,
    force: bool = False,
    run_id: str | None = None,
    on_event: Event | None = None,
    on_episode=None,
    rule: AcceptanceRule | None = None,
    sources: list[CandidateSource] | None = None,
    continue_library: bool = False,
    budget: Budget | None = None,
) -> ImproveResult:
    """Learn a library for ``environment`` with ``model``; returns the run and its final library.

    ``resume`` continues the stored run of that id from its last finished step, and refuses to
    when the environment, a model or the task manifest differs from what the run recorded
    (``force`` overrides that, and the override is recorded in the run's notes). ``rule`` and
    ``sources`` replace the acceptance rule and the candidate sources the config names (a new method
    from Python: any object with ``judge(tally)`` / ``async candidates(contrast)``).

    A new run into a library that another run already learned into is refused unless
    ``continue_library``: it would silently start from that run's skills (two seeds in one database,
    say), and its no-skills -> final comparison would credit it with them.

    ``budget`` (else the config's ``advanced.budget``): the run pauses when its stored episodes or its dollars
    reach it (``BudgetReached``, an outage's pause); a resume may give a larger one.
    """
    database = Database(db)
    libraries, runs = LibraryStore(database), RunStore(database)
    identity = run_identity(environment, model, proposer or model)
    if resume:
        info = runs.get(resume)
        config = stored_config(info.config, run_id=info.id)
    config = (config or RunConfig()).with_notice_of(environment)  # recorded as the text the executor reads
    # Built before anything is stored: a held-out world that cannot be built refuses the run, and loses nothing.
    home, sealed = environment, environment.held_out(config.sealed_world_seed)
    identity["sealed_world"] = sealed.world()
    if resume:
        state = RunState.model_validate(info.state or {})
        run_id, library = info.id, info.library or info.id
        differences = [f"{what}: recorded {state.identity.get(what)!r}, now {value!r}"
                       for what, value in identity.items() if state.identity and state.identity.get(what) != value]
        if differences and not force:
            raise ConfigError(f"run {run_id} was made with another setup ({'; '.join(differences)}); "
                              "resume with the same one, or pass --force to continue anyway")
        if differences:
            state.notes.append("resumed with --force despite: " + "; ".join(differences))
        state.identity = state.identity or identity
        runs.update(run_id, status="running", state=state.model_dump(mode="json"))
    else:
        # What was actually passed in is what the record says, not the config's defaults; a
        # package.module:Class spec is kept, since it is how `grasp improve --resume` finds the class again.
        if ":" not in config.environment:
            config = config.model_copy(update={"environment": environment.name})
        if config.library:  # a capacity that differs from the existing library's is refused before the run exists
            libraries.create(config.library, capacity=config.capacity, exist_ok=True)
            earlier = sorted({d.run_id for d in libraries.decisions(config.library)
                              if d.run_id and d.result_version is not None})
            if earlier and not continue_library:
                raise ConfigError(f"library {config.library!r} already holds skills that run {earlier[-1]} learned; a "
                                  "new run would start from them. Name another library (--library), or build on it "
                                  "on purpose with --continue-library")
        run_id = runs.create(kind="improve", environment=environment.name, config=config.model_dump(mode="json"),
                             manifest_hash=environment.manifest_hash(), library=config.library, run_id=run_id)
        library = config.library or run_id
        runs.update(run_id, library=library)
        libraries.create(library, capacity=config.capacity, exist_ok=True)
        state = RunState(identity=identity, estimate=estimate_run(home, sealed, config, runs).model_dump())
        if on_event is not None:
            on_event("estimate", state.estimate)
    cache = ReplyCache(database) if config.advanced.cache else None

    def noted(line: str) -> None:
        """What a model adapted to (an endpoint's structured-output form, say): once in the view, kept in the run."""
        state.notes.append(line)
        if on_event is not None:
            on_event("note", {"text": line})

    for role_model in (model, proposer):
        if role_model is not None:
            role_model.on_note = noted

    limit = budget or config.advanced.budget
    if budget is not None and resume:
        state.notes.append(f"resumed with the budget {budget.model_dump(exclude_none=True)}")
    prices = role_prices(config.model_dump(mode="json"))

    def spent() -> str | None:
        """Why the budget is spent, or None."""
        if limit.episodes is not None and runs.count_episodes(run_id) >= limit.episodes:
            return f"the budget of {limit.episodes} episodes is spent"
        if limit.usd is not None:
            dollars = sum(usage_cost(usage, prices) or 0.0 for usage in runs.usage(run_id))
            if dollars >= limit.usd:
                return f"the budget of ${limit.usd:.2f} is spent (${dollars:.2f})"
        return None

    def metered(inner: Model, role: str) -> MeteredModel:
        return MeteredModel(inner, role=role, runs=runs, run_id=run_id, cache=cache,
                            spent=spent if limit.episodes is not None or limit.usd is not None else None)

    executor = metered(model, "executor")
    writer = proposer or model.with_own_context()  # the writer: one context apart from the executor's
    improver = Improver(environment, executor, metered(writer, "proposer"), config, libraries, runs, run_id, library,
                        state,
                        on_event=on_event, on_episode=on_episode, rule=rule, sources=sources, sealed_environment=sealed)
    try:
        await improver.run()
    except BaseException:
        runs.update(run_id, status="interrupted", state=state.model_dump(mode="json"))
        raise
    finally:
        if sealed is not home:
            await sealed.aclose()
    counts = run_counts(libraries, runs, run_id, library)
    final = libraries.version(library)
    usage = skill_usage(runs.episodes(run_id), final.skills)  # every episode of the run that showed one of them
    summary = {"headline": _headline(state), "test": state.test, **counts.model_dump(),
               "skill_usage": [use.model_dump() for use in usage]}
    runs.update(run_id, status="finished", summary=summary, state=state.model_dump(mode="json"))
    return ImproveResult(run_id=run_id, library=final, state=state, counts=counts, usage=usage)


def run_identity(environment: Environment, executor: Model, proposer: Model) -> dict[str, str | None]:
    """What a run runs on: the environment, each role's model and what exactly answers, the tasks."""
    return {
        "environment": environment.name,
        "manifest": environment.manifest_hash(),
        "executor": executor.id,
        "executor_identity": executor.identity or executor.id,
        "proposer": proposer.id,
        "proposer_identity": proposer.identity or proposer.id,
    }


def _headline(state: RunState) -> str:
    if not state.test:
        return ""
    none, final = state.test["no_skills"], state.test["final"]
    pair = state.test.get("paired") or {}
    stats = f" (fixed {pair['fixed']}, broken {pair['broken']}, p={pair['p_value']:.2g})" if pair else ""
    strata = "".join(f"; {name} {p['before']}/{p['total']} -> {p['after']}/{p['total']}"
                     for name, p in (state.test.get("strata") or {}).items())
    return f"test {none['accuracy']:.0%} -> {final['accuracy']:.0%}{stats}{strata}"


__all__ = ["Episode", "ImproveResult", "improve", "run_identity"]
