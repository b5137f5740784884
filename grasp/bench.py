"""`grasp bench`: methods x seeds as ordinary stored runs, compared on the sealed test with paired statistics.

Every (method, seed) pair is an improve run under its own library, so a stopped bench resumes run by
run (and each run resumes step by step). The no-skill baseline comes from the same runs: each reads the
sealed test once, with no skills and with its final library, on the same items (temperature-0 replies
are cached, so the no-skill episodes of a seed are computed once across methods).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from statistics import mean, stdev

from pydantic import BaseModel, Field

from .estimate import Estimate, estimate_run
from .config import RunConfig
from .costs import role_prices, usage_cost
from .environment import Environment
from .improve import improve
from .improve.methods import YARDSTICKS, method_config
from .models.base import Model
from .stats import Paired, t95
from .store import Database, LibraryStore
from .store.runs import RunStore



class MethodRow(BaseModel):
    method: str
    seeds: list[int]
    accuracy: list[float]  # sealed-test accuracy of the final library, per seed
    mean: float
    low: float
    high: float
    paired: list[Paired] = Field(default_factory=list)  # per seed, against no skills on the same items
    episodes: dict[str, int] = Field(default_factory=dict)  # training, gate, evaluation
    search_calls: int = 0  # environment calls of search (amendment, shortening), outside any episode
    tokens: dict[str, int] = Field(default_factory=dict)  # per role
    cost_usd: float | None = None
    wall_s: float = 0.0
    decisions: int = 0  # decisions judged on a probe
    probe_episodes: int = 0  # what the gate spent on them
    exhaustive_episodes: int = 0  # what an exhaustive gate would have: (1 + K) x N
    curve: list[tuple[int, float]] = Field(default_factory=list)  # mean val accuracy per epoch
    strata: dict[str, list[float]] = Field(default_factory=dict)  # per stratum: sealed-test accuracy per seed
    paired_strata: list[dict[str, Paired]] = Field(default_factory=list)  # per seed, per stratum, vs no skills

    def stratum_mean(self, name: str) -> float | None:
        values = self.strata.get(name) or []
        return mean(values) if values else None

    def wall_text(self) -> str:
        """Its runs' wall time; "-" for a row that ran nothing of its own (no skills, the yardsticks)."""
        return f"{self.wall_s / 60:.1f} min" if self.episodes else "-"

    def strata_text(self) -> str:
        """Each stratum's mean with its 95% t-interval over seeds, e.g. "none 100.0% [100.0, 100.0]"."""
        parts = []
        for name in sorted(self.strata):
            centre, low, high = interval(self.strata[name])
            parts.append(f"{name} {100 * centre:.1f}% [{100 * low:.1f}, {100 * high:.1f}]")
        return ", ".join(parts) or "-"


class BenchResult(BaseModel):
    bench_id: str
    rows: list[MethodRow]


def interval(values: list[float]) -> tuple[float, float, float]:
    """Mean and 95% t-interval over seeds (a single seed has no interval)."""
    centre = mean(values)
    if len(values) < 2:
        return centre, centre, centre
    half = t95(len(values) - 1) * stdev(values) / math.sqrt(len(values))
    return centre, max(0.0, centre - half), min(1.0, centre + half)


def seeds_from(base: RunConfig, count: int) -> list[int]:
    """``count`` distinct seeds from the config's own."""
    return [base.seed + index for index in range(count)]


async def run_bench(
    environment: Environment,
    executor: Model,
    base: RunConfig,
    methods: list[str],
    seeds: list[int],
    *,
    db: str | Path,
    bench_id: str,
    proposer: Model | None = None,
    on_run: Callable[[str, str, int], None] | None = None,
    on_event=None,
) -> BenchResult:
    """Run (or resume) every method x seed, then tabulate."""
    database = Database(db)
    runs = RunStore(database)
    known = {info.id: info for info in runs.list()}
    if bench_id not in known:
        runs.create(kind="bench", environment=environment.name, run_id=bench_id, manifest_hash=environment.manifest_hash(),
                    config={"base": base.model_dump(mode="json"), "methods": methods, "seeds": seeds})
    runs.update(bench_id, status="running")
    for seed in seeds:  # seed by seed: a bench stopped part way has every method on the seeds it finished
        for method in (m for m in methods if m not in YARDSTICKS):
            run_id = f"{bench_id}-{method}-s{seed}"
            info = known.get(run_id)
            if info is not None and info.status == "finished":
                continue
            if on_run:
                on_run(method, run_id, seed)
            config = method_config(base, method, seed=seed, library=run_id)
            await improve(environment, executor, config, db=db, proposer=proposer, run_id=None if info else run_id,
                          resume=run_id if info else None, on_event=on_event)
    result = tabulate(database, bench_id, methods, seeds)
    runs.update(bench_id, status="finished", summary=result.model_dump(mode="json"))
    return result


def tabulate(database: Database, bench_id: str, methods: list[str], seeds: list[int]) -> BenchResult:
    """The comparison from the stored runs; a (method, seed) run not started or not finished is left out,
    so a stopped bench can be read before it is resumed."""
    runs, libraries = RunStore(database), LibraryStore(database)
    stored = {info.id: info for info in runs.list()}  # one read; a run not in it has not started
    rows: list[MethodRow] = []
    none: dict[int, float] = {}
    yardsticks: dict[str, dict[int, dict]] = {"no skills": {}, "trivial answer": {}, "reference library": {}}
    for method in (m for m in methods if m not in YARDSTICKS):
        row = MethodRow(method=method, seeds=[], accuracy=[], mean=0.0, low=0.0, high=0.0)
        curves: dict[int, list[float]] = defaultdict(list)
        episodes: dict[str, int] = defaultdict(int)
        tokens: dict[str, int] = defaultdict(int)
        for seed in seeds:
            info = stored.get(f"{bench_id}-{method}-s{seed}")
            if info is None:
                continue  # a stopped bench has not reached it yet: the table shows what finished
            state, test = info.state or {}, (info.state or {}).get("test") or {}
            if not test:
                continue
            row.seeds.append(seed)
            row.accuracy.append(test["final"]["accuracy"])
            none.setdefault(seed, test["no_skills"]["accuracy"])
            if test.get("paired"):
                row.paired.append(Paired.model_validate(test["paired"]))
            _add_strata(row, test.get("final_strata") or {})
            row.paired_strata.append({name: Paired.model_validate(p) for name, p in (test.get("strata") or {}).items()})
            # The same items for every method of a seed: the yardsticks are read from the first run that has them.
            yardsticks["no skills"].setdefault(seed, {"passed": test["no_skills"]["passed"],
                                                      "total": test["no_skills"]["total"],
                                                      "strata": test.get("no_skills_strata") or {}})
            for name, key in (("trivial answer", "trivial"), ("reference library", "reference")):
                if test.get(key):
                    yardsticks[name].setdefault(seed, test[key])
            for point in state.get("val") or []:
                curves[point["epoch"]].append(point["accuracy"])
            for name, phases in (("training", ("train", "explore", "trial")), ("gate", ("probe",)),
                                 ("evaluation", ("val", "test"))):
                episodes[name] += sum(runs.count_episodes(info.id, phase=phase) for phase in phases)
            row.search_calls += runs.count_search_calls(info.id)
            prices = role_prices(info.config)
            for usage in runs.usage(info.id):
                tokens[usage.role] += usage.prompt_tokens + usage.completion_tokens
                if (cost := usage_cost(usage, prices)) is not None:
                    row.cost_usd = (row.cost_usd or 0.0) + cost
            row.wall_s += (info.updated_at - info.created_at).total_seconds()
            probe_size = int(((info.config or {}).get("gate") or {}).get("probe_size", 36))
            _gate_cost(row, libraries.decisions(info.library or info.id, run_id=info.id), probe_size)
        if row.accuracy:
            row.mean, row.low, row.high = interval(row.accuracy)
        row.episodes, row.tokens = dict(episodes), dict(tokens)
        row.curve = [(epoch, mean(values)) for epoch, values in sorted(curves.items())]
        if row.seeds:
            rows.append(row)
    wanted = {YARDSTICKS[m] for m in methods if m in YARDSTICKS} or set(YARDSTICKS.values())
    fixed = [_yardstick_row(name, by_seed) for name, by_seed in yardsticks.items() if by_seed and name in wanted]
    first = [row for row in fixed if row.method == "no skills"]  # Table 1's order: no skills, the methods, the rest
    return BenchResult(bench_id=bench_id, rows=first + rows + [row for row in fixed if row.method != "no skills"])


def _add_strata(row: MethodRow, strata: dict[str, list[int]]) -> None:
    for name, (passed, total) in strata.items():
        row.strata.setdefault(name, []).append(passed / total if total else 0.0)


def _yardstick_row(name: str, by_seed: dict[int, dict]) -> MethodRow:
    """A row that learns nothing (no skills, the trivial answer, the reference library), per seed's items."""
    seeds = sorted(by_seed)
    accuracy = [by_seed[s]["passed"] / by_seed[s]["total"] if by_seed[s]["total"] else 0.0 for s in seeds]
    centre, low, high = interval(accuracy)
    row = MethodRow(method=name, seeds=seeds, accuracy=accuracy, mean=centre, low=low, high=high)
    for seed in seeds:
        _add_strata(row, by_seed[seed].get("strata") or {})
    return row


def _gate_cost(row: MethodRow, decisions, probe_size: int) -> None:
    """Probe episodes spent per decision next to an exhaustive gate's (1 + K) x N, where K counts every valid
    candidate: one refused at trial is one an exhaustive gate would have probed, and cost nothing here."""
    by_key: dict[str, list] = defaultdict(list)
    for decision in decisions:
        evidence = decision.evidence
        if decision.stage in ("gate", "trial"):
            by_key[evidence.extra["decision"]].append(decision)
    for valid in by_key.values():
        probed = [d for d in valid if d.evidence.extra.get("probe")]
        size = len(probed[0].evidence.extra["probe"]) if probed else probe_size
        row.decisions += 1
        # the baseline on the probe (when any candidate reached it), then what each candidate ran
        row.probe_episodes += (size if probed else 0) + sum(d.evidence.episodes_run for d in probed)
        row.exhaustive_episodes += (1 + len(valid)) * size


def markdown(result: BenchResult) -> str:
    """The comparison laid out like the paper's Table 1, plus what each method spent."""
    lines = [f"# grasp bench {result.bench_id}", "",
             "| method | sealed test (mean, 95% CI over seeds) | per stratum (mean, 95% CI over seeds) | "
             "per seed vs no skills: fixed/broken, p (per stratum) | "
             "episodes train / gate / eval | gate episodes per decision (exhaustive) | tokens by role | cost USD | wall |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in result.rows:
        seeds = "; ".join(f"s{seed}: +{p.fixed}/-{p.broken}, p={p.p_value:.3g}" + _strata_pairs(row, index)
                          for index, (seed, p) in enumerate(zip(row.seeds, row.paired, strict=False))) or "-"
        strata = row.strata_text()
        episodes = (" / ".join(str(row.episodes.get(k, 0)) for k in ("training", "gate", "evaluation"))
                    + f" (+{row.search_calls} search calls)") if row.episodes else "-"
        gate = (f"{row.probe_episodes / row.decisions:.1f} ({row.exhaustive_episodes / row.decisions:.1f})"
                if row.decisions else "-")
        tokens = ", ".join(f"{role} {count:,}" for role, count in sorted(row.tokens.items())) or "-"
        cost = f"{row.cost_usd:.4f}" if row.cost_usd is not None else "-"
        lines.append(f"| {row.method} | {100 * row.mean:.1f}% [{100 * row.low:.1f}, {100 * row.high:.1f}] "
                     f"(n={len(row.seeds)}) | {strata} | {seeds} | {episodes} | {gate} | {tokens} | {cost} | "
                     f"{row.wall_text()} |")
    return "\n".join(lines) + "\n"


def _strata_pairs(row: MethodRow, index: int) -> str:
    pairs = row.paired_strata[index] if index < len(row.paired_strata) else {}
    return "".join(f" [{name} +{p.fixed}/-{p.broken}, p={p.p_value:.3g}]" for name, p in sorted(pairs.items()))


def write_html(result: BenchResult, target: Path) -> Path:
    from .charts import method_bars, method_curves
    from .report import TEMPLATES

    rows = result.rows
    curves = {r.method: r.curve for r in rows if r.curve}  # none when the runs had no val items
    page = TEMPLATES.get_template("bench.html.j2").render(
        result=result, table=markdown(result),
        bars=method_bars([r.method for r in rows], [r.mean for r in rows], [r.low for r in rows],
                         [r.high for r in rows]),
        curves=method_curves(curves) if curves else "",
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target


async def bench_estimate(environment: Environment, base: RunConfig, methods: list[str], seeds: list[int],
                         runs: RunStore | None) -> list[tuple[str, int, Estimate]]:
    """Each (method, seed) run's estimate, before the bench starts (``grasp.estimate``; nothing runs)."""
    estimates = []
    for seed in seeds:
        for method in (m for m in methods if m not in YARDSTICKS):
            config = method_config(base, method, seed=seed, library=f"estimate-{method}-s{seed}").with_notice_of(environment)
            sealed = environment.held_out(config.sealed_world_seed)
            try:
                estimates.append((method, seed, estimate_run(environment, sealed, config, runs)))
            finally:
                if sealed is not environment:
                    await sealed.aclose()
    return estimates
