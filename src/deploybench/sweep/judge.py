"""Adaptive windows judged in a helper process, on the records the level has stored so far.

Whether a window's intervals are tight is a bootstrap over every record: done in a thread of the
measuring process it holds the GIL for tens to hundreds of ms while the loop stamps tokens. Here
the measuring loop only waits (the writer thread writes what is queued, then one helper process
reads ``records.jsonl`` and computes :func:`~deploybench.metrics.intervals.precision_met`). The
process is started once per run, before any engine starts (spawned: it inherits no threads, sockets
or servers), and warmed up while the engine loads; :func:`shutdown` ends it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from .. import storage
from ..metrics import tdist
from ..metrics.intervals import precision_met
from ..schemas import LoadConfig

_POOL: ProcessPoolExecutor | None = None


def _warm() -> int:
    """Import scipy.special (and this module's numpy) in the helper, before the first look."""
    tdist.t_ppf(0.975, 3)
    return os.getpid()


def _judge(run_dir: str, start_ns: int, now_ns: int, target: float, figures: list[str], users: int) -> bool:
    records = [r for r in storage.iter_records(Path(run_dir)) if not r.warmup]
    return precision_met(records, start_ns, now_ns, target, figures, users)[0]


def pool() -> ProcessPoolExecutor:
    """The helper process (started and warmed up on first use)."""
    global _POOL
    if _POOL is None:
        _POOL = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        _POOL.submit(_warm)
        atexit.register(shutdown)
    return _POOL


def shutdown() -> None:
    global _POOL
    if _POOL is not None:
        _POOL.shutdown(wait=False, cancel_futures=True)
        _POOL = None


@contextlib.contextmanager
def helper_process(adaptive: bool = False):
    """Around a run: with adaptive windows the helper process starts now, before any engine (so its start-up
    never takes CPU from a measured level), and ends with the run."""
    if adaptive:
        pool()
    try:
        yield
    finally:
        shutdown()


class FileJudge:
    """A :class:`~deploybench.load.Judge` for one cell: flush its writer, judge its records file elsewhere."""

    def __init__(self, writer: storage.RunWriter) -> None:
        self.writer = writer
        pool()  # start the helper now: it imports while the level warms up

    async def __call__(self, start_ns: int, now_ns: int, cfg: LoadConfig, users: int) -> bool:
        await asyncio.to_thread(self.writer.flush)  # waits without the GIL
        fut = pool().submit(_judge, str(self.writer.dir), start_ns, now_ns, cfg.target_half_width,
                            list(cfg.precision_figures), users)
        return await asyncio.wrap_future(fut)
