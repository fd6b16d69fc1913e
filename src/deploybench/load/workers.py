"""Load from several client processes (``load.workers``), coordinated by the measuring process.

A level's closed-loop users (or open-loop arrivals) are dealt round-robin to N workers: user u and
request i go to worker ``u % N`` / ``i % N``, and prompt ``cursor + i`` stays with request i, so the
server sees the same prompts in the same order as from one process. Each worker runs the ordinary
:func:`~deploybench.load.run_level` / :func:`~deploybench.load.run_open_level` on its own event loop
and aiohttp session, and streams its records to the coordinator in small batches; the coordinator
stores them (the cell's ``RunWriter``, crash-safe as a one-process run), feeds progress, and decides
when the level starts and stops:

* **start**: every worker warms up, says ready, then waits for one instant the coordinator names
  (on the coordinator's clock, translated by the worker's clock offset);
* **stop**: fixed windows end by each worker's own deadline from that common start; adaptive windows
  end when the coordinator's :class:`~deploybench.load.Deadline`, watching every worker's records,
  finds the intervals tight; it then tells the workers to stop at that instant. A worker that dies
  stops the others at once and the level is stored ``failed`` (its records already streamed stay).

Records are stored on the coordinator's timeline: every ``*_ns`` time has the worker's clock offset
added (0 between processes of one host: they read the same ``CLOCK_MONOTONIC``), and the record
keeps ``worker`` and ``clock_offset_ns``. Backends: :class:`LocalPool` (processes on this host,
here) and ``load.cluster.DaskPool`` (Dask workers, anywhere).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import multiprocessing as mp
import os
import queue
import signal
import sys
import time
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from .. import protocols
from .._clock import sleep_until
from ..protocols.base import GenParams, Prompt
from ..schemas import Endpoint, LoadConfig, RequestRecord
from . import faults
from .closed import run_level
from .level import COORDINATED, Deadline, LevelResult, Progress, chat_sessions, hard_limit_s
from .openloop import run_open_level

FLUSH_S = 0.05  # a worker sends its records at least this often
GO_LEAD_NS = 100_000_000  # the common start is this far after the last worker said ready
POLL_S = 0.005
STOP_LEAD_NS = 50_000_000  # an adaptive level's stop instant is this far after the coordinator decides
READY_S = 60.0  # a worker's start-up (a process, a Dask task) plus its warm-up's request timeouts


@dataclass
class Job:
    """One worker's share of one level (plain data: it travels to another process or host)."""

    worker: int
    workers: int
    seq: int
    endpoint: dict
    headers: dict[str, str]
    load: dict
    params: dict
    prompts: list[Prompt]
    users: int = 0  # closed loop: this worker's users
    offsets_s: list[float] | None = None  # open loop: this worker's arrivals
    max_in_flight: int | None = None
    aligned: bool = False
    cores: list[int] | None = None


def new_session(**kw) -> aiohttp.ClientSession:
    """The client's HTTP session (the same in one process and in every worker): ``protocols.new_session``."""
    return protocols.new_session(**kw)


def share(n: int, workers: int, w: int) -> int:
    """Worker ``w``'s part of ``n`` dealt round-robin."""
    return n // workers + (1 if w < n % workers else 0)


def dealt(prompts: Sequence[Prompt], cursor: int, workers: int, w: int, aligned: bool = False) -> list[Prompt]:
    """Worker ``w``'s prompts: its local request k is global request ``k * workers + w``.

    Multi-turn sessions go whole to one worker (session s to worker s % N), as to one user."""
    if aligned:
        return list(prompts[w::workers])
    sessions = chat_sessions(prompts)
    if sessions:
        return [p for k, s in enumerate(sessions) if (k - cursor) % workers == w for p in s]
    n = len(prompts)
    return [prompts[(cursor + w + k * workers) % n] for k in range(max(1, n // workers))]


# --------------------------------------------------------------------------- worker side


class _Link:
    """The worker's end: records out in batches, start and stop instants in (coordinator clock)."""

    def __init__(self, job: Job, send: Callable[[list], None], control: Callable[[], tuple[int, int, int]],
                 offset_ns: int = 0) -> None:
        self.job, self._send, self._control, self.offset = job, send, control, offset_ns
        self.buf: list[dict] = []
        self.closing = False

    async def emit(self, msg: list) -> None:
        await asyncio.to_thread(self._send, msg)

    async def flush(self) -> None:
        if self.buf:
            batch, self.buf = self.buf, []
            await self.emit(["recs", self.job.seq, self.job.worker, batch])

    async def flusher(self) -> None:
        """Sends the records every FLUSH_S; ended by ``closing`` (never cancelled mid-send: the messages
        of one worker reach the coordinator in order, ``done`` last)."""
        while not self.closing:
            await asyncio.sleep(FLUSH_S)
            await self.flush()

    async def ready(self) -> None:
        await self.flush()
        await self.emit(["ready", self.job.seq, self.job.worker])
        while True:
            go, _, _ = await asyncio.to_thread(self._control)
            if go:
                await sleep_until(go - self.offset)
                return
            await asyncio.sleep(POLL_S)

    async def watch(self, deadline: Deadline) -> None:
        while not deadline.passed():
            _, stop, met = await asyncio.to_thread(self._control)
            if stop:
                deadline.met = bool(met)
                local = stop - self.offset
                deadline.at = min(deadline.at, local) if deadline.at is not None else local
                return
            await asyncio.sleep(0.02)


async def run_job(job: Job, link: _Link) -> None:
    """Run one worker's share of a level; every record goes to the coordinator; then ``done``."""
    if job.cores and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, job.cores)
    endpoint = Endpoint.model_validate(job.endpoint).model_copy(update={"headers": job.headers})
    cfg = LoadConfig.model_validate(job.load)
    params = GenParams(**job.params)
    token = COORDINATED.set(link)
    flusher = asyncio.create_task(link.flusher())
    try:
        async with new_session() as session:
            client = protocols.create(endpoint, session)
            sink = lambda rec: link.buf.append(rec.model_dump())  # noqa: E731
            if job.offsets_s is None:
                res = await run_level(client, job.prompts, params, job.users, cfg, sink)
            else:
                res = await run_open_level(client, job.prompts, params, job.offsets_s, cfg, sink,
                                           max_in_flight=job.max_in_flight, aligned=job.aligned)
            close = getattr(client, "close", None)
            if close is not None and asyncio.iscoroutine(r := close()):
                await r
    except Exception as exc:  # noqa: BLE001  (told to the coordinator, which fails the level)
        last = ["error", job.seq, job.worker, f"{type(exc).__name__}: {exc}"]
    else:
        last = ["done", job.seq, job.worker, dataclasses.asdict(res)]
    finally:
        link.closing = True
        await flusher
        COORDINATED.reset(token)
    await link.flush()
    await link.emit(last)


def run_async(coro):
    """Run on uvloop where installed (a faster event loop: less client overhead)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


# --------------------------------------------------------------------------- coordinator side


@dataclass
class _Level:
    jobs: list[Job]
    ready: set[int] = field(default_factory=set)
    done: dict[int, dict] = field(default_factory=dict)
    failed: str | None = None
    deadline: Deadline | None = None
    stopped: bool = False  # told every worker to stop now


class Pool:
    """Coordinates N workers; a backend says how jobs reach them and messages come back."""

    workers: int
    local = True  # workers on this host (their CPU affinity is this host's)

    def __init__(self, endpoint: Endpoint, cores: list[int] | None = None) -> None:
        self.endpoint, self.cores, self.seq = endpoint, cores, 0

    # backend: --------------------------------------------------------------
    def _dispatch(self, jobs: list[Job]) -> None: ...
    def _control(self, go: int = 0, stop: int = 0, met: int = 0) -> None: ...
    async def _poll(self) -> list[list]: ...
    def _dead(self, lv: _Level) -> str | None: ...
    def offset(self, w: int) -> int:
        return 0

    # the level drivers' signatures ------------------------------------------
    async def run_level(self, client, prompts: Sequence[Prompt], params: GenParams, concurrency: int,
                        cfg: LoadConfig, sink, progress: Progress | None = None, prompt_offset: int = 0) -> LevelResult:
        n = min(self.workers, concurrency)
        jobs = []
        for w in range(n):
            load = cfg.model_copy(update={"requests": share(cfg.requests, n, w) if cfg.requests else cfg.requests})
            jobs.append(self._job(w, n, load, params, dealt(prompts, prompt_offset, n, w),
                                  users=share(concurrency, n, w)))
        return await self._coordinate(jobs, cfg, sink, progress, concurrency)

    async def run_open_level(self, client, prompts: Sequence[Prompt], params: GenParams, offsets_s: Sequence[float],
                             cfg: LoadConfig, sink, progress: Progress | None = None, prompt_offset: int = 0,
                             max_in_flight: int | None = None, aligned: bool = False) -> LevelResult:
        n = max(1, min(self.workers, len(offsets_s)))
        offsets = [float(o) for o in offsets_s]
        jobs = [self._job(w, n, cfg, params, dealt(prompts, prompt_offset, n, w, aligned), offsets_s=offsets[w::n],
                          max_in_flight=-(-max_in_flight // n) if max_in_flight else None, aligned=aligned)
                for w in range(n)]
        return await self._coordinate(jobs, cfg, sink, progress, 0)

    def _job(self, w: int, n: int, cfg: LoadConfig, params: GenParams, prompts, **kw) -> Job:
        # a worker runs where the coordinator may (a fork server keeps the affinity it was started with)
        cores = [self.cores[w % len(self.cores)]] if self.cores else (_affinity() if self.local else None)
        return Job(worker=w, workers=n, seq=self.seq, endpoint=self.endpoint.model_dump(mode="json"),
                   headers=dict(self.endpoint.headers), load=cfg.model_dump(mode="json"),
                   params=dataclasses.asdict(params), prompts=list(prompts), cores=cores, **kw)

    async def _coordinate(self, jobs: list[Job], cfg: LoadConfig, sink, progress, users: int) -> LevelResult:
        self.seq += 1
        for j in jobs:
            j.seq = self.seq
        lv = _Level(jobs)
        self._control()
        self._dispatch(jobs)
        seen: list[RequestRecord] = []
        watcher: asyncio.Task | None = None
        ready_by = time.monotonic() + READY_S + 2 * cfg.request_timeout_s  # started, warmed up
        give_up = time.monotonic() + hard_limit_s(cfg, cfg.requests, max(users, 1)) + cfg.request_timeout_s + 60
        try:
            while len(lv.done) < len(jobs):
                for msg in await self._poll():
                    self._handle(msg, lv, sink, progress, seen)
                if time.monotonic() > give_up and not lv.failed:
                    lv.failed = "load workers did not finish within the level's hard limit"
                if lv.deadline is None and time.monotonic() > ready_by and not lv.failed:
                    lv.failed = f"load workers not ready after {READY_S + 2 * cfg.request_timeout_s:g} s " \
                                f"({len(lv.ready)} of {len(jobs)})"
                lv.failed = lv.failed or self._dead(lv) or _server_gone()
                if lv.failed:  # stop every worker now; keep taking what the living ones still send
                    if watcher is not None:
                        watcher.cancel()
                    self._stop_now(lv)
                    if not self._running(lv):
                        break
                elif lv.deadline is None and len(lv.ready) == len(jobs):
                    go = time.monotonic_ns() + GO_LEAD_NS
                    lv.deadline = Deadline(go, cfg)
                    self._control(go=go)
                    watcher = asyncio.create_task(self._watch(lv.deadline, seen, users, cfg.adaptive))
            for msg in await self._poll():  # what a worker sent just before it ended
                self._handle(msg, lv, sink, progress, seen)
        finally:
            if watcher is not None:
                watcher.cancel()
            if len(lv.done) < len(jobs):  # failed, or interrupted (Ctrl-C): no worker goes on alone
                self._stop_now(lv)
        return self._merged(lv)

    def _stop_now(self, lv: _Level) -> None:
        if not lv.stopped:
            lv.stopped = True
            now = time.monotonic_ns()
            self._control(go=lv.deadline.start if lv.deadline else now, stop=now)

    def _running(self, lv: _Level) -> bool:
        """Any worker without its ``done`` still running."""
        return False

    async def _watch(self, deadline: Deadline, seen: list[RequestRecord], users: int, adaptive: bool) -> None:
        """Adaptive windows: the coordinator's Deadline on every worker's records; then tell the workers."""
        if not adaptive:
            return
        await deadline.watch(seen, users=users)
        if deadline.met:  # a stop instant just ahead, so every worker has read it before it comes
            deadline.at = max(deadline.at or 0, time.monotonic_ns() + STOP_LEAD_NS)
            self._control(go=deadline.start, stop=deadline.at, met=1)

    def _handle(self, msg: list, lv: _Level, sink, progress, seen: list[RequestRecord]) -> None:
        kind, seq, w = msg[0], msg[1], msg[2]
        if seq != self.seq:
            return  # a late message from an earlier level
        if kind == "ready":
            lv.ready.add(w)
        elif kind == "recs":
            n, off = lv.jobs[w].workers, self.offset(w)
            for d in msg[3]:
                rec = aligned_record(d, w, n, off)
                sink(rec)
                seen.append(rec)
                if progress is not None:
                    progress.request_done(rec)
        elif kind == "done":
            lv.done[w] = msg[3]
        elif kind == "error":
            lv.failed = lv.failed or f"load worker {w} failed: {msg[3]}"

    def _merged(self, lv: _Level) -> LevelResult:
        parts = [(w, LevelResult(**d)) for w, d in sorted(lv.done.items())]
        if not parts:
            start = lv.deadline.start if lv.deadline else time.monotonic_ns()
            return LevelResult(start, start, 0, 0, failed=lv.failed or "no load worker finished")
        n = lv.jobs[0].workers
        starts = [r.window_start_ns + self.offset(w) for w, r in parts]
        ends = [r.window_end_ns + self.offset(w) for w, r in parts]
        adaptive = lv.deadline is not None and lv.deadline.cfg.adaptive
        return LevelResult(
            min(starts), max(ends), measured=sum(r.measured for _, r in parts), warmup=sum(r.warmup for _, r in parts),
            stopped_early=any(r.stopped_early for _, r in parts),
            prompts_used=max(r.prompts_used for _, r in parts) * n,
            imprecise=lv.deadline.imprecise if adaptive else False,
            truncated=any(r.truncated for _, r in parts),
            failed=lv.failed or next((r.failed for _, r in parts if r.failed), None))


def _server_gone() -> str | None:
    """Why the level must stop: the measured server's process exited (the cell fails, as in one process),
    or the coordinator could not store a record."""
    watch = faults.SERVER_WATCH.get()
    if watch is None:
        return None
    if watch.reason is None and watch.alive is not None and (why := watch.alive()):
        watch.trip(why)
    return watch.reason  # also set when the level had to stop for another reason (a full disk)


def aligned_record(d: dict, w: int, workers: int, offset_ns: int) -> RequestRecord:
    """A worker's record on the coordinator's timeline, numbered as one process would have."""
    for k, v in d.items():
        if k.endswith("_ns") and k != "clock_offset_ns" and v is not None:
            d[k] = [t + offset_ns for t in v] if isinstance(v, (list, tuple)) else v + offset_ns
        elif isinstance(v, tuple):  # msgpack (Dask) sends lists as tuples
            d[k] = list(v)
    d["index"] = d["index"] * workers + w
    d["vu"] = d["vu"] * workers + w
    d["worker"], d["clock_offset_ns"] = w, offset_ns
    return RequestRecord.model_construct(**d)


# --------------------------------------------------------------------------- processes on this host


def _process_main(w: int, jobs: "mp.Queue", out: "mp.Queue", control) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the coordinator's: it tells the workers to stop
    def read() -> tuple[int, int, int]:
        with control.get_lock():
            return control[0], control[1], control[2]

    while (job := jobs.get()) is not None:
        run_async(run_job(job, _Link(job, out.put, read)))


def _context():
    """Worker processes forked from a fork server that has this module loaded: a clean process (nothing of
    the parent's event loop or threads, unlike fork) that starts in milliseconds (unlike spawn, which
    imports everything again for each worker)."""
    if "forkserver" not in mp.get_all_start_methods():
        return mp.get_context("spawn")
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload([__name__])
    return ctx


@contextlib.contextmanager
def _main_left_out():
    """Start processes without the main script: multiprocessing would run it again in every worker (for
    the CLI, seconds of imports) though a worker needs only this module. It reads ``sys.modules['__main__']``
    while starting a process, so a bare module stands in for that moment."""
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class LocalPool(Pool):
    """N worker processes on this host (spawned once per deployment, one job per level each)."""

    def __init__(self, endpoint: Endpoint, workers: int, cores: list[int] | None = None) -> None:
        super().__init__(endpoint, cores)
        self.workers = workers
        ctx = _context()
        self._out = ctx.Queue()
        self._ctl = ctx.Array("q", 3)
        self._jobs = [ctx.Queue() for _ in range(workers)]
        self.procs = [ctx.Process(target=_process_main, args=(w, self._jobs[w], self._out, self._ctl),
                                  name=f"deploybench-worker-{w}", daemon=True) for w in range(workers)]
        with _main_left_out():
            for p in self.procs:
                p.start()

    @property
    def pids(self) -> list[int]:
        """The worker processes (the contention guard counts their CPU time as the client's)."""
        return [p.pid for p in self.procs]

    def _dispatch(self, jobs: list[Job]) -> None:
        for j in jobs:
            self._jobs[j.worker].put(j)

    def _control(self, go: int = 0, stop: int = 0, met: int = 0) -> None:
        with self._ctl.get_lock():
            self._ctl[0], self._ctl[1], self._ctl[2] = go, stop, met

    async def _poll(self) -> list[list]:
        return await asyncio.to_thread(_drain, self._out, 0.02)

    def _dead(self, lv: _Level) -> str | None:
        for j in lv.jobs:
            p = self.procs[j.worker]
            if j.worker not in lv.done and not p.is_alive():
                return f"load worker {j.worker} died (exit code {p.exitcode})"
        return None

    def _running(self, lv: _Level) -> bool:
        return any(self.procs[j.worker].is_alive() for j in lv.jobs if j.worker not in lv.done)

    def close(self) -> None:
        for q, p in zip(self._jobs, self.procs):
            if p.is_alive():
                q.put(None)
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
        for q in self._jobs + [self._out]:
            q.close()
            q.cancel_join_thread()


def _drain(q, wait_s: float) -> list:
    out = []
    try:
        out.append(q.get(timeout=wait_s))
        while True:
            out.append(q.get_nowait())
    except queue.Empty:
        pass
    return out


def _affinity() -> list[int] | None:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


def worker_count(cfg: LoadConfig, client_cores: list[int] | None, local_server: bool) -> int:
    """``load.workers`` resolved: ``auto`` is one per client core the server leaves free (every core of
    this host when the server is elsewhere); 1 when the client shares the server's cores."""
    if cfg.workers != "auto":
        return int(cfg.workers)
    if client_cores:
        return len(client_cores)
    if local_server:
        return 1
    return len(_affinity() or []) or os.cpu_count() or 1
