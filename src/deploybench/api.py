"""The Python API: the same operations as the CLI, on the same pydantic models."""

from __future__ import annotations

import time
from pathlib import Path

from . import storage, workloads
from .schemas import RunConfig, RunSummary
from .sweep import Reporter, run_deployment, summarize_dir

__all__ = ["run", "summarize", "load_summaries"]


def run(cfg: RunConfig, out: Path | str = "runs", name: str | None = None,
        reporter: Reporter | None = None, resume: bool = True) -> tuple[Path, list[RunSummary]]:
    """Measure one deployment at every load level; returns the study folder and the summaries."""
    name = name or f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    study_dir = Path(out) / name
    study_dir.mkdir(parents=True, exist_ok=True)
    storage.atomic_write(study_dir / "study.json", cfg.model_dump_json(indent=2))
    prompts = workloads.load_prompts(cfg.workload.source)
    summaries = run_deployment(cfg, prompts, study_dir, study=name, reporter=reporter, resume=resume)
    return study_dir, summaries


def summarize(path: Path | str, slo: str | None = None) -> list[RunSummary]:
    """Re-summarize every stored run under ``path`` from raw records."""
    return [summarize_dir(d, slo) for d in storage.run_dirs(Path(path))]


def load_summaries(path: Path | str) -> list[RunSummary]:
    """Stored summaries (recomputed where missing)."""
    out = []
    for d in storage.run_dirs(Path(path)):
        out.append(storage.read_summary(d) or summarize_dir(d))
    return out
