"""Resume: whether a cell finished before (then its stored summary stands and it is not measured again).

Below the runner and the rate sweep, which both ask it.
"""

from __future__ import annotations

from pathlib import Path

from .. import storage
from ..schemas import RunSummary
from ..storage.cells import summarize_cell


def completed_summary(run_dir: Path) -> RunSummary | None:
    """The stored summary of a cell that finished; None if it must (re)run."""
    try:
        meta = storage.read_meta(run_dir)
    except (OSError, ValueError):
        return None
    if meta.status != "complete":
        return None
    return storage.read_summary(run_dir) or summarize_cell(run_dir, meta)
