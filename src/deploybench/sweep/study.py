"""Run a whole study: every cell in rounds (interleaved where engines start fast), stopped; resumable."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import storage, workloads
from ..schemas import ConfigError, RunConfig, RunSummary, Study, engine_plugin
from ..engines.budget import check_budget
from .plan import Planned
from ..storage import run_id_for
from .interleave import interleavable, run_back_to_back, run_interleaved
from .parallel import run_parallel
from .resume import completed_summary
from .runner import NullReporter, Reporter



@dataclass
class CellPlan:
    deployment: str
    level: str
    engine: str
    price_per_hour: float | None
    done: bool


@dataclass
class Estimate:
    cells: list[CellPlan]
    wall_s: float
    cost_usd: float
    cloud_cost_usd: float


def estimate(study: Study, planned: Sequence[Planned], study_dir: Path | None = None) -> Estimate:
    """Cells, wall time and cost before anything starts (cells already complete cost nothing)."""
    cells, wall, cost, cloud = [], 0.0, 0.0, 0.0
    per_cell = _cell_seconds(study)
    for p in planned:
        kind = p.deployment.engine.kind
        plugin = engine_plugin(kind)
        price = p.deployment.hardware.price_per_hour
        todo = 0
        for trial in range(1, study.load.rounds + 1):
            for level in study.load.all_levels:
                n = level.rates + 2 if level.kind == "sweep" else 1  # a sweep: c1, the max, then its rates
                done = bool(study_dir and level.kind != "sweep"
                            and completed_summary(study_dir / run_id_for(p.name, level, trial)))
                cells.append(CellPlan(p.name, level.key, kind, price, done))
                todo += 0 if done else n
        if todo:
            starts = study.load.rounds if study.load.restart_server else 1
            secs = plugin.startup_s * starts + todo * per_cell
            wall += secs
            dollars = (price or 0.0) * secs / 3600
            cost += dollars
            cloud += dollars if plugin.cloud else 0.0
    return Estimate(cells, wall, cost, cloud)


def _cell_seconds(study: Study) -> float:
    load = study.load
    warm = 1.0 if load.warmup_requests else 0.0
    if load.adaptive:  # most levels stop well before their cap; assume half-way
        return (load.min_duration_s + load.max_duration_s) / 2 + warm + 1.0
    if load.duration_s:
        return load.duration_s + warm + 1.0
    # request-bounded: assume ~20 ms per output token per request, serial (a rough upper guess)
    return warm + (load.requests or 20) * study.workload.max_tokens * 0.02 / 2


def check_cost(est: Estimate, max_cost: float) -> None:
    """The study's cost guard (the same rule as an engine's own max_cost, in ``engines.create``)."""
    check_budget(est.cloud_cost_usd, max_cost, "the study's cloud cells",
                 "raise --max-cost (or max_cost in the study) if you mean it, or shrink the grid")


def run_study(study: Study, planned: Sequence[Planned], study_dir: Path, reporter: Reporter | None = None,
              resume: bool = True, parallel: int = 1, cluster=None) -> tuple[list[RunSummary], list[str]]:
    """Measure every deployment; returns the summaries and one line per deployment that failed.

    ``parallel`` > 1: that many deployments at once on the Dask cluster ``cluster`` (default: ``load.cluster``),
    each measured by a worker host of its own (:mod:`deploybench.sweep.parallel`)."""
    reporter = reporter or NullReporter()
    study_dir.mkdir(parents=True, exist_ok=True)
    storage.atomic_write(study_dir / "study.json", study.model_dump_json(indent=2))
    if parallel > 1:
        if not (cluster or study.load.cluster):
            raise ConfigError("--parallel-deployments: needs a Dask cluster to run the deployments on",
                              "give --cluster tcp://HOST:8786 (or load.cluster in the study)")
        return run_parallel(study, planned, study_dir, cluster or study.load.cluster, parallel, reporter, resume)
    prompts = workloads.load_prompts(study.workload.source)
    fast = [p for p in planned if interleavable(RunConfig(deployment=p.deployment, workload=study.workload,
                                                          load=study.load))]
    slow = [p for p in planned if p not in fast]
    summaries, failures = run_interleaved(study, fast, prompts, study_dir, reporter, resume) if fast else ([], [])
    if slow:
        more, why = run_back_to_back(study, slow, prompts, study_dir, reporter, resume)
        summaries, failures = summaries + more, failures + why
    return summaries, failures
