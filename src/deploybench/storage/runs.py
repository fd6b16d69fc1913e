"""Reading a study folder: a run's meta, records, scrapes and summary; run folder names (the one place run
ids are made) and the run folders under a root."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from ..schemas import RequestRecord, RunMeta, RunSummary
from .files import META, RECORDS, SERVER_METRICS, SUMMARY, atomic_write


def read_meta(run_dir: Path) -> RunMeta:
    return RunMeta.model_validate_json((run_dir / META).read_text(encoding="utf-8"))


def iter_records(run_dir: Path) -> Iterator[RequestRecord]:
    """Records of a run; a torn (partially written) last line is skipped."""
    path = run_dir / RECORDS
    if not path.exists():
        return
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break  # torn write at a crash
            try:
                yield RequestRecord.model_validate_json(line)
            except ValueError:
                continue


def read_records(run_dir: Path) -> list[RequestRecord]:
    return list(iter_records(run_dir))


def read_server_metrics(run_dir: Path) -> list[dict]:
    path = run_dir / SERVER_METRICS
    if not path.exists():
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.endswith("\n"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
    return out


def write_summary(run_dir: Path, summary: RunSummary) -> None:
    atomic_write(run_dir / SUMMARY, summary.model_dump_json(indent=2))


def read_summary(run_dir: Path) -> RunSummary | None:
    path = run_dir / SUMMARY
    return RunSummary.model_validate_json(path.read_text(encoding="utf-8")) if path.exists() else None


def safe_name(deployment: str) -> str:
    """A deployment name as a folder-name prefix: anything but letters, digits, '.', '-', '_' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", deployment).strip("._") or "deployment"


def run_id_for(deployment: str, level, trial: int = 1) -> str:
    """Folder name of a cell, the one place run ids are made: ``<deployment>__<level key>[__t<n>]`` (c4,
    r2-poisson, trace-<name>; a bare int means closed users, a str is the key itself); anything but
    letters, digits, '.', '-', '_' becomes '_'."""
    key = f"c{level}" if isinstance(level, int) else (level if isinstance(level, str) else level.key)
    return f"{safe_name(deployment)}__{key}" + (f"__t{trial}" if trial > 1 else "")


def sweep_file(deployment: str, trial: int = 1) -> str:
    """``<deployment>__sweep[__t<n>].json``: a rate sweep's result, beside its cells."""
    return run_id_for(deployment, "sweep", trial) + ".json"


def read_sweeps(study_dir: Path) -> list[dict]:
    """Every stored sweep result under a study folder (``file`` added: the file's name); unreadable ones
    are skipped."""
    out = []
    for p in sorted(Path(study_dir).glob("*__sweep*.json")):
        try:
            out.append({"file": p.name, **json.loads(p.read_text(encoding="utf-8"))})
        except (OSError, ValueError):
            continue
    return out


SET_ASIDE = re.compile(r"\.(incomplete|contended)-")
"""Folders of tries kept aside (an interrupted try, a try on a busy host): kept, never read as cells."""


def run_dirs(root: Path) -> list[Path]:
    """Run folders under ``root`` (a single run or a study), in name order."""
    if (root / META).exists():
        return [root]
    return sorted(p.parent for p in root.glob(f"*/{META}") if not SET_ASIDE.search(p.parent.name))
