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
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import queue
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..schemas import DeploybenchError, RequestRecord, RunMeta, RunSummary

RECORDS = "records.jsonl"
META = "meta.json"
SUMMARY = "summary.json"
PARQUET = "records.parquet"


class DiskFullError(DeploybenchError):
    exit_code = 4


FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
"""Write errors that mean "no room left": a full disk, a quota, a file-size limit."""


def atomic_write(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all: a temporary file, fsynced, then renamed over it."""
    with replacing(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())


@contextlib.contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary name beside ``path``; when the block ends, rename it over ``path``. A block that
    fails (a full disk: :class:`DiskFullError`) removes the temporary file and leaves ``path`` as it was,
    so a partial file never sits under its final name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with _guard(path):
            yield tmp
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()


class _guard:
    """Turn ENOSPC/EDQUOT into a one-line DiskFullError."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self):
        return self

    def __exit__(self, et, exc, tb):
        if isinstance(exc, OSError) and exc.errno in FULL:
            raise DiskFullError(f"disk full while writing {self.path}",
                                "free space; records already written are kept and the run resumes") from None
        return False


class RunWriter:
    """Appends records of one run as they complete, from a writer thread.

    ``append`` only queues the record (well under a microsecond on the measuring loop); the writer
    thread serialises each record and writes it as one whole line (in the OS page cache at once:
    survives a ``kill -9`` of this process), usually within a millisecond, and fsyncs every ``fsync_s`` seconds (survives a power cut). A write that finds the disk full
    truncates the file back to its last whole line, keeps the :class:`DiskFullError` in ``error``,
    calls ``on_error`` with it (on the event loop that appended, the level stops there) and drops
    every later record: nothing half-written is ever left behind. ``close`` writes what is queued.
    """

    def __init__(self, run_dir: Path, meta: RunMeta, fsync_s: float = 0.5) -> None:
        self.dir = run_dir
        self.meta = meta
        self.error: DiskFullError | None = None
        self.on_error: Callable[[DiskFullError], None] | None = None
        run_dir.mkdir(parents=True, exist_ok=True)
        self.write_meta()
        self._f = JsonlAppender(run_dir / RECORDS, self._full)
        self.count = 0  # records written
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer = threading.Thread(target=self._write_loop, args=(fsync_s,), daemon=True,
                                        name=f"records-{run_dir.name}")
        self._writer.start()

    def append(self, rec: RequestRecord) -> None:
        if self._loop is None:
            with contextlib.suppress(RuntimeError):
                self._loop = asyncio.get_running_loop()
        self._q.put(rec)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every record appended so far is written (or dropped, the disk being full)."""
        if self._writer.is_alive():
            done = threading.Event()
            self._q.put(done)
            done.wait(timeout)

    def _write_loop(self, fsync_s: float) -> None:
        """Write what is queued, a whole line per record; fsync now and then; ``None`` in the queue ends
        it, an ``Event`` is set once everything queued before it is written."""
        next_sync, dirty = time.monotonic() + fsync_s, False
        while True:
            try:
                item = self._q.get(timeout=fsync_s)
            except queue.Empty:
                item = False
            if isinstance(item, RequestRecord):
                if self._f.write_line(item.model_dump_json()):
                    self.count += 1
                    dirty = True
            elif isinstance(item, threading.Event):
                item.set()
            if dirty and (item is None or time.monotonic() >= next_sync):
                with contextlib.suppress(OSError, ValueError):
                    self._f.sync()
                next_sync, dirty = time.monotonic() + fsync_s, False
            if item is None:
                return

    def _full(self, exc: DiskFullError) -> None:
        """From the writer thread: hand the error to the loop that appended (thread-safe), else call it here."""
        self.error = exc
        if self.on_error is None:
            return
        loop = self._loop
        if loop is not None and not loop.is_closed() and threading.current_thread() is not threading.main_thread():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self.on_error, exc)
                return
        self.on_error(exc)

    def write_meta(self) -> None:
        atomic_write(self.dir / META, self.meta.model_dump_json(indent=2))

    def close(self, status: str | None = None) -> None:
        """Write what is queued, close the records (fsynced) and store ``status``.

        A record the disk had no room for (even in this last write) makes a ``complete`` cell
        ``interrupted`` (``error`` says why); a meta the disk has no room for raises
        :class:`DiskFullError` (the meta then stays ``running``: the next run sets the cell aside)."""
        if self._writer.is_alive():
            self._q.put(None)
            self._writer.join(timeout=60)
        self._f.close()
        if status:
            if self.error is not None and status == "complete":
                status, self.meta.note = "interrupted", self.error.problem
            self.meta.status = status  # type: ignore[assignment]
            self.meta.ended_at = self.meta.ended_at or now_iso()
            self.write_meta()


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


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


SERVER_METRICS = "server_metrics.jsonl"


class JsonlAppender:
    """Append JSON lines, each written whole (unbuffered, retried on a short write) or not at all.

    On a full disk the file is truncated back to its last whole line, ``on_full`` is called once with
    the :class:`DiskFullError` (default: raise it) and every later line is dropped."""

    def __init__(self, path: Path, on_full: Callable[[DiskFullError], None] | None = None) -> None:
        self.path = path
        self.on_full = on_full
        self.error: DiskFullError | None = None
        with _guard(path):
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            self._good = os.fstat(self._fd).st_size
        self._lock = threading.Lock()

    def __call__(self, obj: dict) -> None:
        self.write_line(json.dumps(obj))

    def write_line(self, text: str) -> bool:
        """Append one line; False when it was not written (the disk is full, or was)."""
        if self.error is not None or self._fd < 0:
            return False
        data = (text + "\n").encode("utf-8")
        with self._lock:
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view):]
            except OSError as exc:
                if exc.errno not in FULL:
                    raise
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self._good)  # back to the last whole line
                self.error = DiskFullError(f"disk full while writing {self.path}",
                                           "free space and run again: measurements already stored are kept, "
                                           "this cell is measured again")
            else:
                self._good += len(data)
                return True
        if self.on_full is None:
            raise self.error
        self.on_full(self.error)
        return False

    def sync(self) -> None:
        if self._fd >= 0:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):  # nothing is buffered: every line is already written
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


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


def write_parquet(run_dir: Path, records: list[RequestRecord] | None = None) -> Path:
    """Columnar copy of the records for DuckDB/pandas users."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [r.model_dump() for r in (records if records is not None else read_records(run_dir))]
    table = pa.Table.from_pylist(rows, schema=_arrow_schema()) if rows else _arrow_schema().empty_table()
    with replacing(run_dir / PARQUET) as tmp:
        pq.write_table(table, tmp)
    return run_dir / PARQUET


def _arrow_type(annotation):
    """The Arrow type of one record field's annotation (``X | None`` is a nullable X; a Literal of
    strings is a string)."""
    import types
    import typing

    import pyarrow as pa

    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        (inner,) = [a for a in args if a is not type(None)]
        return _arrow_type(inner)
    if origin is typing.Literal:
        return _arrow_type(type(args[0]))
    if origin is list:
        return pa.list_(_arrow_type(args[0]))
    scalars = {bool: pa.bool_(), int: pa.int64(), float: pa.float64(), str: pa.string()}
    if annotation not in scalars:
        raise TypeError(f"RequestRecord field of type {annotation!r} has no Arrow type here; add it to _arrow_type")
    return scalars[annotation]


def _arrow_schema():
    """The Parquet columns: RequestRecord's fields, in its order, typed from its annotations."""
    import pyarrow as pa

    return pa.schema([(name, _arrow_type(f.annotation)) for name, f in RequestRecord.model_fields.items()])
