"""The gate for a skill that grasp did not learn: a hand-written SKILL.md, a coding agent's, an imported library's.

``grasp improve`` judges its own candidates; a skill written anywhere else needs the same check before it is
deployed. :func:`gate` runs it: the library's current pass/fail status on dev, a balanced probe drawn from it
by the same sampler and size as ``improve``'s (failing items of the skill's own family first), the probe run
without and with the edit, and the same acceptance rule. The edit is committed as a new version only when the
rule accepts it (and never with ``dry_run``); a refusal is recorded as a decision with its evidence, so
``grasp library log --decisions`` shows why. Every episode is stored under a run of kind ``gate``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from ..config import RunConfig
from ..edits import Edit
from ..environment import Environment
from ..models.base import Model
from ..store import Database, LibraryStore, Version
from ..store.runs import RunStore
from .decide import GateRunner, evidence_for
from .probe import SAMPLERS
from .rules import rule_from
from .sampling import run_tasks_of
from .state import RunState


class GateVerdict(BaseModel):
    """What the gate decided about one edit, item by item."""

    run_id: str
    edit: str
    accepted: bool
    reason: str
    probe: list[str]
    fixed: list[str]
    broken: list[str]
    p_value: float | None
    committed: Version | None  # the new version; None when refused or a dry run


async def gate(environment: Environment, model: Model, edit: Edit, *, library: str, config: RunConfig | None = None,
               db: str | Path = "grasp.db", dry_run: bool = False) -> GateVerdict:
    """Judge ``edit`` against ``library``'s head on a balanced dev probe; commit it only if the rule accepts it.

    A library that does not exist yet is created empty (capacity from ``config``), so a first skill can be
    gated against no skills at all."""
    config = (config or RunConfig()).with_notice_of(environment)
    database = Database(db)
    libraries, runs = LibraryStore(database), RunStore(database)
    libraries.create(library, capacity=config.capacity, exist_ok=True)
    head = libraries.version(library)
    run_id = runs.create(kind="gate", environment=environment.name, config=config.model_dump(mode="json"),
                         manifest_hash=environment.manifest_hash(), library=library)
    rule = rule_from(config.gate)
    # Every probe item runs under the edit (no early stop): a person deciding wants each item fixed or broken.
    runner = GateRunner(environment, model, runs, run_id, rule=rule, early_reject=False,
                        selection=config.selection, max_rounds=config.max_rounds,
                        concurrency=config.concurrency, notice=config.advanced.last_round_notice)
    dev = run_tasks_of("dev", environment, config, RunState(), run_id)
    now = {task.id: episode for task, episode in zip(dev, await runner.run(dev, head.skills), strict=True)
           if episode is not None}
    known = [(task, now[task.id].passed) for task in dev if task.id in now]
    focus = frozenset(edit.skill.tags if edit.skill else ())
    probe = SAMPLERS[config.gate.sampler](known, size=config.probe_size, exclude=set(), seed=f"{config.seed}:gate",
                                          focus=focus)
    judged = await runner.judge(probe, [now[task.id] for task in probe], head.skills, edit)
    evidence = evidence_for(judged, rule, accepted=judged.accepted, reason=judged.reason,
                            models={"executor": model.id}, extra={"probe": [task.id for task in probe]})
    committed = None
    if judged.accepted and not dry_run:
        committed = libraries.apply(library, edit, origin="gate", evidence=evidence, base=head.number, run_id=run_id,
                                    stage="gate")
    elif not dry_run:
        libraries.record_decision(library, base=head.number, edit=edit, evidence=evidence, origin="gate",
                                  run_id=run_id, stage="gate")
    items = judged.tally.items if judged.tally else []
    verdict = GateVerdict(run_id=run_id, edit=edit.summary(), accepted=judged.accepted, reason=judged.reason,
                          probe=[task.id for task in probe], p_value=judged.tally.p_value if judged.tally else None,
                          fixed=[item.task_id for item in items if item.fixed],
                          broken=[item.task_id for item in items if item.regressed],
                          committed=committed)
    runs.update(run_id, status="finished", summary=verdict.model_dump(mode="json", exclude={"committed"}))
    return verdict
