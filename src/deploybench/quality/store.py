"""``quality.json`` beside a study's runs: written after the study measures quality, read by
``recommend --max-quality-loss`` and by reports."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .. import storage
from ..seed import load_external
from ..schemas import ConfigError, RunSummary
from ..schemas.quality import QualityTable
from . import gate

QUALITY_FILE = "quality.json"
NO_QUALITY_IMPORTED = ("no quality data: imported study (it published latency and throughput only; "
                       "no output quality was measured)")
NO_QUALITY = "no quality measured (add `quality: {method: kld}` to the study and run it again)"


def quality_path(path: Path | str) -> Path | None:
    """The ``quality.json`` that holds for ``path``: in the folder itself or, for one run, its study's."""
    p = Path(path)
    for folder in (p, p.parent):
        if (folder / QUALITY_FILE).is_file():
            return folder / QUALITY_FILE
    return None


def read_table(path: Path | str) -> QualityTable | None:
    qp = quality_path(path)
    if qp is None:
        return None
    try:
        return QualityTable.model_validate_json(qp.read_text(encoding="utf-8"))
    except ValueError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"{qp} is not a valid quality table ({first})",
                          "delete it and run the study again to measure quality") from None


def write_table(study_dir: Path | str, table: QualityTable) -> Path:
    path = Path(study_dir) / QUALITY_FILE
    storage.atomic_write(path, table.model_dump_json(indent=2))
    return path


def is_imported(s: RunSummary) -> bool:
    return bool(getattr(s, "external", None))


def missing_reason(s: RunSummary) -> str:
    return NO_QUALITY_IMPORTED if is_imported(s) else NO_QUALITY


def gate_folder(path: Path | str, summaries: Sequence[RunSummary], spec: str | None,
                external: dict | None = None) -> tuple[list[RunSummary], list[gate.Exclusion], list[gate.QualityLimit]]:
    """``recommend --max-quality-loss``: the summaries under ``path`` whose deployments meet ``spec``,
    the excluded deployments with their reasons, and the parsed limits."""
    limits = gate.parse(spec)
    if not limits:
        return list(summaries), [], []
    if external is None:

        external = load_external(path) if Path(path).is_dir() else {}
    ext = external

    def missing(s: RunSummary) -> str:
        return NO_QUALITY_IMPORTED if (ext.get(s.run_id) or is_imported(s)) else NO_QUALITY

    kept, excluded = gate.apply(summaries, read_table(path), limits, missing)
    return kept, excluded, limits
