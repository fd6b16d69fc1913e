"""What a report reads: the runs under a folder, with their metadata, summaries and records.

A *cell* is one run (deployment x load level). Summaries are read from ``summary.json`` and
recomputed from the raw records only where the cached file is missing. Records are read lazily
(imported 2023 data has none).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .. import storage
from ..storage.cells import combined_cells, load_cell
from ..schemas import ConfigError, RequestRecord, RunMeta, RunSummary


@dataclass(eq=False)  # cells compare by identity
class Cell:
    """One stored run: where it lives, its metadata and its summary."""

    run_dir: Path
    meta: RunMeta
    summary: RunSummary
    _records: list[RequestRecord] | None = field(default=None, repr=False)

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    @property
    def deployment(self) -> str:
        return self.summary.deployment

    @property
    def concurrency(self) -> int:
        return self.summary.concurrency

    def label(self, key: str) -> str | None:
        return self.summary.labels.get(key) or self.meta.labels.get(key)

    @property
    def model(self) -> str:
        eng = self.meta.engine
        return self.label("model") or (eng.model if eng and eng.model else None) or self.deployment

    @property
    def quantization(self) -> str:
        return self.label("quantization") or "—"

    @property
    def hardware(self) -> str:
        return self.label("hardware") or self.label("instance") or "—"

    @property
    def engine(self) -> str:
        eng = self.meta.engine
        return self.label("engine") or (eng.kind if eng else None) or "—"

    @property
    def records(self) -> list[RequestRecord]:
        """Measured (non-warm-up) records; empty for imported data."""
        if self._records is None:
            self._records = [r for r in storage.read_records(self.run_dir) if not r.warmup]
        return self._records

    @property
    def has_records(self) -> bool:
        return bool(self.records)

    @property
    def imported(self) -> bool:
        return bool(self.meta.external)


@dataclass
class Store:
    """Every cell under one folder (a study, a single run, or imported data)."""

    root: Path
    cells: list[Cell]

    @property
    def summaries(self) -> list[RunSummary]:
        return [c.summary for c in self.cells]

    @property
    def deployments(self) -> list[str]:
        return list(dict.fromkeys(c.deployment for c in self.cells))

    @property
    def has_records(self) -> bool:
        return any(c.has_records for c in self.cells)

    def by_run_id(self, run_id: str) -> Cell | None:
        return next((c for c in self.cells if c.run_id == run_id), None)

    def find(self, deployment: str, concurrency: int) -> Cell | None:
        return next((c for c in self.cells if c.deployment == deployment and c.concurrency == concurrency), None)


def load_store(path: Path | str) -> Store:
    """Read every run under ``path``; a ConfigError when there is nothing to read."""
    root = Path(path)
    if not root.exists():
        raise ConfigError(f"path {root} does not exist", "give a run or study folder written by `deploybench run` "
                          "or `deploybench import-seed`")
    if not root.is_dir():
        raise ConfigError(f"{root} is not a folder", "give a run or study folder, not a file")
    try:  # one cell per deployment x level: its rounds combined (storage.cells.combined_cells)
        cells = [Cell(run_dir=c.run_dir, meta=c.meta, summary=c.summary) for c in combined_cells(root)]
    except ValueError as exc:
        bad = next((d for d in storage.run_dirs(root) if _unreadable(d)), root)
        raise ConfigError(f"{bad} cannot be read: its meta.json or summary.json is not valid ({_first_line(exc)})",
                          f"delete its summary.json and run `deploybench summarize {bad}`, or remove the folder") from None
    if not cells:
        raise ConfigError(f"no runs under {root}", "give a folder written by `deploybench run` or `deploybench import-seed`")
    cells.sort(key=lambda c: (c.deployment, c.concurrency, c.run_id))
    return Store(root=root, cells=cells)


def _unreadable(run_dir: Path) -> bool:
    try:
        load_cell(run_dir)
    except ValueError:
        return True
    return False


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
