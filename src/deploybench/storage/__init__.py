"""Crash-safe, append-only run storage.

Layout of a study directory::

    <study>/study.json                 the study/run config (written first)
    <study>/<run_id>/meta.json         RunMeta (atomically replaced; status running -> complete)
    <study>/<run_id>/records.jsonl     one RequestRecord per line, appended + flushed as each completes
    <study>/<run_id>/records.parquet   the same records, written when the run completes
    <study>/<run_id>/summary.json      cached RunSummary (recomputable from the two above)
    <study>/<run_id>/server/...        engine logs and server-side metric scrapes

JSONL is the source of truth: a ``kill -9`` loses at most the requests in flight, and a torn
last line is skipped on read.

Modules, bottom to top: ``files`` (names, whole-or-nothing writes, JSONL appends, a full disk), ``lock``
(one writer per study), ``runs`` (readers, run ids, run folders), ``writer`` (:class:`RunWriter`),
``parquet``, ``cells`` (the one loader of a stored cell and its summary). This ``__init__`` only re-exports.
"""

from __future__ import annotations

from .files import (FULL, META, PARQUET, RECORDS, SERVER_METRICS, SUMMARY, DiskFullError, JsonlAppender, atomic_write,
                    replacing)
from .parquet import write_parquet
from .runs import (SET_ASIDE, iter_records, read_meta, read_records, read_server_metrics, read_summary, read_sweeps,
                   run_dirs, run_id_for, safe_name, sweep_file, write_summary)
from .writer import RunWriter, now_iso

__all__ = ["FULL", "META", "PARQUET", "RECORDS", "SERVER_METRICS", "SET_ASIDE", "SUMMARY", "DiskFullError",
           "JsonlAppender", "RunWriter", "atomic_write", "iter_records", "now_iso", "read_meta", "read_records",
           "read_server_metrics", "read_summary", "read_sweeps", "replacing", "run_dirs", "run_id_for", "safe_name",
           "sweep_file", "write_parquet", "write_summary"]
