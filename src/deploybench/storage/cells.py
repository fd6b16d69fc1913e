"""One stored cell and its summary: the one path every reader takes.

``summarize``, ``report``, ``compare``, ``recommend``, ``predict`` and the runner's resume check all
read a cell through :func:`load_cell` (the cached ``summary.json``, or the same figures recomputed
from the raw records) or :func:`summarize_cell` (always recomputed). A recomputed summary uses the
cell's own stored settings (SLO, client-lag limits) and its server-metric scrapes, exactly as the
run that measured it did, so a report of a folder without ``summary.json`` shows the figures
``deploybench summarize`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import metrics
from ..metrics import rounds as rounds_mod
from ..schemas import LoadConfig, RunMeta, RunSummary
from .runs import read_meta, read_records, read_server_metrics, read_summary, run_dirs

IMPORTED = "import-seed"
"""``labels.source`` of cells imported before ``deploybench import`` existed (the 2023 study: aggregates only)."""
IMPORT = "import"
"""``labels.source`` of imported cells (``labels.tool`` names the tool; ``labels.data`` is ``per-request`` or
``summary-only``)."""


def is_imported(meta: RunMeta) -> bool:
    """A cell read from another tool's file (or the 2023 study), not measured by deploybench."""
    return meta.labels.get("source") in (IMPORT, IMPORTED)


def _summary_only(meta: RunMeta) -> bool:
    return meta.labels.get("source") == IMPORTED or meta.labels.get("data") == "summary-only"


@dataclass(frozen=True)
class StoredCell:
    """A run folder with its metadata and summary."""

    run_dir: Path
    meta: RunMeta
    summary: RunSummary


def _load_setting(meta: RunMeta, name: str) -> Any:
    """A load setting as the cell was measured with it (the model's default when the cell predates it)."""
    value = ((meta.config or {}).get("load") or {}).get(name)
    return LoadConfig.model_fields[name].default if value is None else value


def summarize_cell(run_dir: Path, meta: RunMeta | None = None, slo: str | None = None) -> RunSummary:
    """A cell's summary recomputed from its raw records, with its own settings and server metrics.

    ``slo`` replaces the cell's own SLO (for goodput). Imported summary-only cells keep their stored summary;
    imported per-request cells are recomputed from their records, with the tool's window figures where the
    records cannot give them (:func:`deploybench.metrics.imported.summarize_imported`).
    """
    meta = meta or read_meta(run_dir)
    if is_imported(meta) and _summary_only(meta):
        stored = read_summary(run_dir)
        if stored is not None:
            return stored
    if is_imported(meta):
        return metrics.imported.summarize_imported(meta, read_records(run_dir), {},
                                                   metrics.slo.parse(slo or _load_setting(meta, "slo")))
    return metrics.summarize(read_records(run_dir), meta, metrics.slo.parse(slo or _load_setting(meta, "slo")),
                             float(_load_setting(meta, "max_lag_ms")), read_server_metrics(run_dir),
                             float(_load_setting(meta, "lag_tolerance")))


def load_cell(run_dir: Path, slo: str | None = None, meta: RunMeta | None = None) -> StoredCell:
    """A cell with its stored summary, or the summary recomputed (:func:`summarize_cell`) where none is
    stored or ``slo`` asks for other goodput. Raises ``ValueError`` on a corrupt meta/summary file."""
    meta = meta or read_meta(run_dir)
    stored = None if slo else read_summary(run_dir)
    return StoredCell(run_dir, meta, stored or summarize_cell(run_dir, meta, slo))


def _round_target(meta: RunMeta) -> float | None:
    """The precision target a combined cell is held to: the study's ``target_half_width`` when its levels
    were adaptive (None: a fixed window or request count states no target)."""
    load = (meta.config or {}).get("load") or {}
    adaptive = load.get("min_duration_s") is not None or load.get("max_duration_s") is not None
    return load.get("target_half_width") if adaptive else None


def _in_progress(run_dir: Path) -> bool:
    try:
        return read_meta(run_dir).status == "running"
    except (OSError, ValueError):
        return False  # an unreadable meta: load_cell says so


def finished_dirs(root: Path) -> list[Path]:
    """Cell folders under ``root`` that are not being measured (status other than ``running``): what
    read-only commands read while a run measures the study."""
    return [d for d in run_dirs(root) if not _in_progress(d)]


def combined_cells(root: Path, slo: str | None = None) -> list[StoredCell]:
    """Every cell under ``root`` once: its rounds (``<cell>``, ``<cell>__t2``, ...) combined from their raw
    records (:func:`deploybench.metrics.rounds.combine`). Cells being measured are left out; only completed
    rounds are combined; a cell with
    none keeps its first stored round (failed, interrupted) as it is. ``run_dir`` and ``meta`` are round 1's."""
    groups: dict[tuple[str, str], list[StoredCell]] = {}
    for d in run_dirs(root):
        meta = read_meta(d)
        if meta.status == "running":  # being measured now (or by a run that died): not a result yet
            continue
        c = load_cell(d, slo, meta)
        groups.setdefault(rounds_mod.cell_key(c.summary), []).append(c)
    out = []
    for cells in groups.values():
        cells.sort(key=lambda c: c.meta.trial)
        done = [c for c in cells if c.meta.status == "complete"]
        if len(done) < 2:
            out.append(done[0] if done else cells[0])
            continue
        pairs = [(c.summary, None if _summary_only(c.meta) else read_records(c.run_dir))
                 for c in done]
        summary = rounds_mod.combine(pairs, _round_target(done[0].meta))
        out.append(StoredCell(done[0].run_dir, done[0].meta, summary))
    return out
