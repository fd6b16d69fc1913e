"""Bring your own results: other tools' output files -> deploybench cells (``deploybench import``).

One reader per format (:data:`FORMATS`, keyed by the ``--from`` name): each turns a file into
:class:`ImportedCell` objects from that tool's documented output schema (module docstrings and
docs/import.md say which fields, from which version); :mod:`.store` stores them exactly like measured
cells, so report, recommend, pareto, compare and capacity read them unchanged. ``export_rows`` is the
reverse: any store -> rows of the table format.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..schemas import ConfigError, RunSummary
from . import aiperf, guidellm, llmperf, table, vllm_bench
from .cell import ImportedCell, ToolWindow
from .store import SOURCE, DeploymentFacts, Prepared, digest, now, prepare, write, write_cell

__all__ = ["FORMATS", "SOURCE", "DeploymentFacts", "ImportedCell", "ToolWindow", "Prepared", "export_rows",
           "import_files", "write_cell"]

FORMATS: dict[str, Callable[[Path], list[ImportedCell]]] = {
    "vllm-bench": vllm_bench.read,
    "guidellm": guidellm.read,
    "aiperf": aiperf.read,
    "llmperf": llmperf.read,
    "table": table.read,
}


def import_files(paths: Sequence[Path | str], fmt: str, study_dir: Path, facts: DeploymentFacts,
                 catalog: Catalog) -> list[Prepared]:
    """Read every file, build every cell, then store them under ``study_dir``; returns the stored cells.
    Any bad file raises one :class:`ConfigError` before anything is written."""
    if fmt not in FORMATS:
        raise ConfigError(f"--from: unknown format '{fmt}'", f"use one of: {', '.join(FORMATS)}")
    if not paths:
        raise ConfigError("no files to import", "give one or more result files")
    when = now()
    prepared: list[Prepared] = []
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            raise ConfigError(f"{p} is a folder", "give the result files themselves")
        cells = FORMATS[fmt](p)
        d = digest(p)
        files.append({"file": str(p.resolve()), "sha256": d, "cells": len(cells)})
        prepared += [prepare(c, facts, catalog, study_dir.name, d, when) for c in cells]
    write(prepared, study_dir, {"format": fmt, "imported_at": when, "files": files,
                                "flags": facts.model_dump(exclude_none=True)})
    return prepared


def _mean_tokens(total: int, n: int) -> int | None:
    return int(round(total / n)) if n and total else None


def export_row(s: RunSummary, meta_config: dict[str, Any] | None = None, catalog: Catalog | None = None) -> dict[str, Any]:
    """One cell as a row of the table format (figures the cell lacks stay empty; ``gpus`` from the cell's
    labels, else the catalog entry of its hardware)."""
    lab = s.labels
    wl = (meta_config or {}).get("workload") or {}
    hw = lab.get("hardware")
    gpus = lab.get("gpus")
    if gpus is None and hw and catalog is not None and hw in catalog:
        gpus = catalog.gpu_count(hw)
    row: dict[str, Any] = {
        "deployment": s.deployment, "model": lab.get("model_id") or lab.get("model"), "hardware": hw, "gpus": gpus,
        "engine": lab.get("engine"), "precision": lab.get("quantization"), "tp": lab.get("tp") or 1,
        "pp": lab.get("pp"), "engine_version": lab.get("engine_version"),
        "input_tokens": _mean_tokens(s.input_tokens, s.completed) or wl.get("input_tokens"),
        "output_tokens": _mean_tokens(s.output_tokens, s.completed) or wl.get("max_tokens"),
        "requests": s.requests if "requests" not in s.missing else None, "errors": s.errors,
        "price_per_hour": s.price_per_hour, "source": lab.get("tool") or "deploybench run", "date": lab.get("date"),
    }
    if s.level_kind == "rate":
        row["rate_rps"], row["arrival"] = s.level[1:].split("-")[0], s.level.split("-", 1)[1]
    else:
        row["concurrency"] = s.concurrency
    for stem, field in table.DISTS.items():
        d = getattr(s, field)
        for stat in table.STATS:
            row[f"{stem}_{stat}_ms"] = getattr(d, stat)
    if "output_throughput_tok_s" not in s.missing:
        row["output_tok_s"] = s.output_throughput_tok_s
    if "request_throughput_rps" not in s.missing:
        row["request_rps"] = s.request_throughput_rps
    return row


def export_rows(cells: Sequence[tuple[RunSummary, dict[str, Any]]], catalog: Catalog | None = None) -> list[dict[str, Any]]:
    return [export_row(s, cfg, catalog) for s, cfg in cells]
