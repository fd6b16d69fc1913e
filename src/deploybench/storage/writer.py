"""The records of a run being measured: queued on the measuring loop, written whole by a writer thread."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..schemas import RequestRecord, RunMeta
from .files import META, RECORDS, DiskFullError, JsonlAppender, atomic_write


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
