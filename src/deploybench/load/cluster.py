"""Load workers on a Dask cluster (``load.cluster: tcp://HOST:8786``, ``--cluster``).

The coordinator (the measuring process) connects as a Dask client; each load worker is a task
pinned to one Dask worker, running the same :func:`~deploybench.load.workers.run_job` as a local
worker process. Records come back through a ``distributed.Queue``; the start and stop instants go
out through a ``distributed.Variable``. Only the coordinator writes the study folder.

**Clocks.** Each Dask worker's monotonic clock is unrelated to the coordinator's, so before the
first level the coordinator estimates every worker's offset NTP-style: ``SAMPLES`` round trips of
``client.run(time.monotonic_ns)`` (which runs in the worker process, beside the tasks); for each,
offset = (t_sent + t_back) / 2 - t_worker; the round trip with the smallest delay wins, and its
half-delay bounds the error. Records are stored with ``offset`` added to every time (the
coordinator's timeline) and keep ``clock_offset_ns``; windows are computed on that timeline.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid

from ..schemas import ConfigError, Endpoint
from .workers import Job, Pool, _Level, _Link, run_async, run_job

SAMPLES = 8
HOW = "pip install 'deploybench[dask]'"


def distributed_module():
    """``distributed``, or one line saying how to get it."""
    try:
        import distributed
    except ImportError:
        raise ConfigError("load.cluster (--cluster): Dask distributed is not installed", HOW) from None
    return distributed


def connect(cluster):
    """A Dask client for ``cluster`` (an address, or a ``LocalCluster``/``Client`` object)."""
    distributed = distributed_module()
    if isinstance(cluster, distributed.Client):
        return cluster, False
    try:
        return distributed.Client(cluster, timeout=10, set_as_default=False), True
    except OSError as exc:
        raise ConfigError(f"load.cluster: cannot reach the Dask scheduler at {cluster}: {exc}",
                          "start it (dask scheduler) or fix the address") from None


SKEW_ENV = "DEPLOYBENCH_TEST_CLOCK_SKEW_NS"
"""Test hook: a worker process started with this set reads its clock this many ns ahead (another host)."""


def worker_clock_ns() -> int:
    """The worker's clock, as the offset estimate reads it (skewed by :data:`SKEW_ENV` in tests)."""
    return time.monotonic_ns() + int(os.environ.get(SKEW_ENV, "0") or 0)


def clock_offset(client, addr: str, samples: int = SAMPLES) -> tuple[int, int]:
    """(offset, error bound) in ns: coordinator time = worker time + offset, within +- error."""
    best = None
    for _ in range(samples):
        t0 = time.monotonic_ns()
        tw = client.run(worker_clock_ns, workers=[addr])[addr]
        t1 = time.monotonic_ns()
        if best is None or t1 - t0 < best[0]:
            best = (t1 - t0, (t0 + t1) // 2 - tw)
    return best[1], best[0] // 2


def _dask_job(job: Job, out: str, ctl: str, offset_ns: int) -> None:
    """Runs on a Dask worker: one worker's share of a level."""
    from distributed import Queue, Variable, get_client

    client = get_client()
    q, v = Queue(out, client=client), Variable(ctl, client=client)
    run_async(run_job(job, _Link(job, q.put, lambda: tuple(v.get(timeout=30)), offset_ns)))


class DaskPool(Pool):
    """Load workers as tasks on a Dask cluster: one per Dask worker (``workers: auto``, or the default 1),
    or ``workers: N`` dealt round-robin over them."""

    local = False

    def __init__(self, endpoint: Endpoint, cluster, workers: int | str = "auto") -> None:
        super().__init__(endpoint)
        self.client, self._owned = connect(cluster)
        self.futures: dict[int, object] = {}
        info = self.client.scheduler_info()["workers"]
        self.addrs = sorted(info)
        if not self.addrs:
            self.close()
            raise ConfigError(f"load.cluster: the Dask cluster at {cluster} has no workers", "start some (dask worker)")
        # every load worker must run at once (they start together): at most one per Dask worker thread
        threads = sum(int(w.get("nthreads", 1)) for w in info.values())
        self.workers = len(self.addrs) if workers in ("auto", 1) else min(int(workers), threads)
        self.offsets, self.errors = {}, {}
        for a in self.addrs:
            self.offsets[a], self.errors[a] = clock_offset(self.client, a)
        self.tag = uuid.uuid4().hex[:8]
        self._made = -1

    def addr(self, w: int) -> str:
        return self.addrs[w % len(self.addrs)]

    def offset(self, w: int) -> int:
        return self.offsets[self.addr(w)]

    def _names(self) -> tuple[str, str]:
        return f"deploybench-{self.tag}-out-{self.seq}", f"deploybench-{self.tag}-ctl-{self.seq}"

    def _control(self, go: int = 0, stop: int = 0, met: int = 0) -> None:
        from distributed import Queue, Variable

        out, ctl = self._names()
        if self._made != self.seq:
            self._queue, self._var = Queue(out, client=self.client), Variable(ctl, client=self.client)
            self._made = self.seq
        self._var.set([go, stop, met])

    def _dispatch(self, jobs: list[Job]) -> None:
        out, ctl = self._names()
        self.futures = {j.worker: self.client.submit(_dask_job, j, out, ctl, self.offset(j.worker), pure=False,
                                                     workers=[self.addr(j.worker)], allow_other_workers=False,
                                                     key=f"deploybench-load-{self.tag}-{self.seq}-{j.worker}")
                        for j in jobs}

    async def _poll(self) -> list[list]:
        got = await asyncio.to_thread(self._queue.get, timeout=1, batch=True)
        if not got:
            await asyncio.sleep(0.02)
        return got

    def _gone(self) -> set[str]:
        """Dask workers of this pool no longer in the cluster. A killed worker's nanny restarts it under a
        new address, so a task pinned to the old one would wait for ever (its future never ends)."""
        try:
            alive = set(self.client.scheduler_info()["workers"])  # refreshed by the client every ~2 s
        except Exception:  # noqa: BLE001 (a scheduler gone too: the futures' status says it)
            return set()
        return {a for a in self.addrs if a not in alive}

    def _dead(self, lv: _Level) -> str | None:
        gone = self._gone()
        for w, fut in self.futures.items():
            if w in lv.done:
                continue
            if fut.status in ("error", "cancelled", "lost"):
                return f"load worker {w} on {self.addr(w)} died: {fut.status}"
            if self.addr(w) in gone:
                return f"load worker {w} on {self.addr(w)} died: its Dask worker left the cluster"
        return None

    def _running(self, lv: _Level) -> bool:
        gone = self._gone()
        return any(not f.done() and self.addr(w) not in gone for w, f in self.futures.items() if w not in lv.done)

    def close(self) -> None:
        for f in self.futures.values():
            f.cancel()
        if self._owned:
            self.client.close()
