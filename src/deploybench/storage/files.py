"""The files of a run folder: their names, whole-or-nothing writes, whole-line JSONL appends, a full disk
(:class:`DiskFullError`). The bottom of ``storage``: every other module writes through these."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from ..schemas import DeploybenchError

RECORDS = "records.jsonl"
META = "meta.json"
SUMMARY = "summary.json"
PARQUET = "records.parquet"
SERVER_METRICS = "server_metrics.jsonl"


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
