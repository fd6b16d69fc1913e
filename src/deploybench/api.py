"""The Python API: the same operations as the CLI, on the same pydantic models."""

from __future__ import annotations

import time
from pathlib import Path

from . import storage, workloads
from .schemas import DeploybenchError, RunConfig, RunSummary
from .storage.cells import load_cell, summarize_cell
from .sweep import Reporter, run_deployment

__all__ = ["run", "summarize", "load_summaries"]


def run(cfg: RunConfig, out: Path | str = "runs", name: str | None = None,
        reporter: Reporter | None = None, resume: bool = True) -> tuple[Path, list[RunSummary]]:
    """Measure one deployment at every load level; returns the study folder and the summaries."""
    from .engines import needs

    needs.check([cfg.deployment])
    name = name or f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    study_dir = Path(out) / name
    study_dir.mkdir(parents=True, exist_ok=True)
    storage.atomic_write(study_dir / "study.json", cfg.model_dump_json(indent=2))
    prompts = workloads.load_prompts(cfg.workload.source)
    summaries = run_deployment(cfg, prompts, study_dir, study=name, reporter=reporter, resume=resume)
    return study_dir, summaries


def summarize(path: Path | str, slo: str | None = None) -> list[RunSummary]:
    """Re-summarize every stored run under ``path`` from raw records (no re-run)."""
    return [summarize_cell(d, slo=slo) for d in storage.run_dirs(Path(path))]


def load_summaries(path: Path | str) -> list[RunSummary]:
    """Stored summaries (recomputed where missing, with the same figures :func:`summarize` gives)."""
    return [load_cell(d).summary for d in storage.run_dirs(Path(path))]


def default_study(quick: bool = False):
    """The embedded default study (``--quick`` trims it for a first look)."""
    from importlib import resources

    import yaml

    from .sweep import validate_study

    data = yaml.safe_load(resources.files("deploybench").joinpath("data/default-study.yaml").read_text())
    if quick:
        data["name"] = "default-quick"
        data["load"].update(concurrency=[1, 4], min_duration_s=2.5, max_duration_s=6, target_half_width=0.08,
                            warmup_requests=1)
    return validate_study(data, "default study")


def _check_installed(planned, est) -> None:
    """Every package the deployments still to measure need, in one line, before anything starts."""
    from .engines import needs

    todo = {c.deployment for c in est.cells if not c.done}
    needs.check(p.deployment for p in planned if p.name in todo)


def run_study(study, out: Path | str = "runs", reporter: Reporter | None = None, resume: bool = True,
              fresh: bool = False, max_cost: float | None = None):
    """Plan, cost-check and run a study; returns (folder, summaries, failures)."""
    from .sweep import check_cost, estimate, plan, run_study as _run

    planned = plan(study)
    study_dir = Path(out) / study.name
    if fresh and study_dir.exists():
        study_dir.rename(study_dir.with_name(f"{study.name}.{time.strftime('%Y%m%d-%H%M%S')}"))
    est = estimate(study, planned, study_dir)
    check_cost(est, study.max_cost if max_cost is None else max_cost)
    _check_installed(planned, est)
    from .quality.study import check as check_quality, measure as measure_quality

    check_quality(study, planned)
    summaries, failures = _run(study, planned, study_dir, reporter=reporter, resume=resume)
    if study.quality is not None:
        try:
            measure_quality(study, planned, study_dir)
        except DeploybenchError as exc:  # the measured cells stay; quality can be measured on a re-run
            failures.append(f"quality: {exc.line()}")
    return study_dir, summaries, failures
