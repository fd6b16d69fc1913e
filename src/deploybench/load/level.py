"""What every level shares: its result, its deadline, its coordinator's and judge's hooks, its warm-up.

The drivers (``load.closed``: closed-loop users; ``load.openloop``: arrival schedules) sit on this module;
so do the load workers (``load.workers``), which coordinate those drivers across processes.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from ..protocols.base import GenParams, Prompt
from ..schemas import LoadConfig, RequestRecord
from .request import ProtocolClient, one_request

HARD_LIMIT = "level hard limit"


class Progress(Protocol):
    def request_done(self, rec: RequestRecord) -> None: ...


@dataclass
class LevelResult:
    window_start_ns: int
    window_end_ns: int
    measured: int
    warmup: int
    stopped_early: bool = False
    prompts_used: int = 0
    imprecise: bool = False
    truncated: bool = False  # cut off by the level's safety hard limit (requests in flight stored as cancelled)
    failed: str | None = None  # the server was gone (process exit, refused connections): why


class Coordinated(Protocol):
    """A load worker's link to its coordinator (``load.workers``): the level starts and stops when it says."""

    async def ready(self) -> None: ...
    async def watch(self, deadline: "Deadline") -> None: ...


COORDINATED: ContextVar[Coordinated | None] = ContextVar("deploybench_coordinated", default=None)


class Judge(Protocol):
    """Whether an adaptive window's intervals are tight, judged off the measuring loop (in a helper
    process: the bootstrap would otherwise hold the GIL while requests are stamped)."""

    async def __call__(self, start_ns: int, now_ns: int, cfg: LoadConfig, users: int) -> bool: ...


JUDGE: ContextVar[Judge | None] = ContextVar("deploybench_judge", default=None)
"""Set by whoever stores the level's records where a helper process can read them (the sweep);
unset, :meth:`Deadline.watch` judges in a thread of this process."""


class Deadline:
    """When users stop starting requests: fixed (``duration_s``) or adaptive (min/max + interval target)."""

    def __init__(self, start_ns: int, cfg: LoadConfig) -> None:
        self.start, self.cfg = start_ns, cfg
        limit = cfg.max_duration_s if cfg.adaptive else cfg.duration_s
        self.at: int | None = start_ns + int(limit * 1e9) if limit else None
        self.met = False

    @property
    def imprecise(self) -> bool:
        """An adaptive level that ended without meeting its interval target."""
        return self.cfg.adaptive and not self.met

    def passed(self) -> bool:
        return self.at is not None and time.monotonic_ns() >= self.at

    def looks(self) -> list[int]:
        """When an adaptive window may stop (ns): a fixed schedule, ``min_duration_s`` x 1, 2, 4, ... below
        ``max_duration_s``. Few looks fixed in advance keep an interval's coverage; a look every second
        stopped at the first narrow interval, which is more often a too-narrow one."""
        lo, hi = self.cfg.min_duration_s, self.cfg.max_duration_s
        out, t = [], lo
        while t < hi:
            out.append(self.start + int(t * 1e9))
            t *= 2
        return out

    async def watch(self, seen: list[RequestRecord], check_s: float = 1.0, users: int = 0) -> None:
        """Adaptive window: at each of :meth:`looks`, stop once the headline intervals are tight.

        In a load worker, the coordinator decides (on every worker's records) and this waits for its word."""
        if (co := COORDINATED.get()) is not None:
            return await co.watch(self)
        cfg, judge = self.cfg, JUDGE.get() or _thread_judge(seen)
        for look in self.looks():
            await asyncio.sleep(max(0.0, (look - time.monotonic_ns()) / 1e9))
            if self.passed():
                return
            now = time.monotonic_ns()
            if await judge(self.start, now, cfg, users):
                self.met = True
                self.at = min(self.at or now, now)
                return


def _thread_judge(seen: list[RequestRecord]) -> Judge:
    """Judge on the records in memory, in a thread (load workers' coordinator; a level without a store)."""
    async def judge(start_ns: int, now_ns: int, cfg: LoadConfig, users: int) -> bool:
        from ..metrics.intervals import precision_met  # lazy: load worker processes never judge, never load numpy

        ok, _ = await asyncio.to_thread(precision_met, list(seen), start_ns, now_ns, cfg.target_half_width,
                                        cfg.precision_figures, users)
        return ok
    return judge


def hard_limit_s(cfg: LoadConfig, budget: int | None, concurrency: int) -> float:
    """The safety limit on a closed level's length; a level cut there is stored ``truncated``.

    Past the window, each user's requests may each take a request timeout, plus as long again for a
    Retry-After pause (capped at a request timeout, :func:`deploybench.load.closed._retry_after`).
    """
    longest = cfg.max_duration_s if cfg.adaptive else cfg.duration_s
    return (longest or 0) + 2 * cfg.request_timeout_s * (1 + (budget or 1) / concurrency)


def chat_sessions(prompts: Sequence[Prompt]) -> list[list[Prompt]] | None:
    """Multi-turn workloads: prompts grouped by session, turns in order (None: single-turn prompts).

    A closed-loop user takes a whole session and sends its turns one after another (sleeping the
    turn's ``think_s`` first), so a session's history stays on one user; users take sessions in order.
    """
    groups: dict[int, list[Prompt]] = {}
    for p in prompts:
        sid = getattr(p, "session", None)
        if sid is None:
            return None
        groups.setdefault(sid, []).append(p)
    return [sorted(g, key=lambda p: p.turn) for g in groups.values()] or None


async def warm_up(client: ProtocolClient, cycle: Callable[[int], Prompt], params: GenParams, concurrency: int,
                  cfg: LoadConfig, sink: Callable[[RequestRecord], None], order: itertools.count) -> None:
    """``warmup_requests`` requests, up to ``concurrency`` at a time, stored with ``warmup=True``."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int, vu: int) -> None:
        async with sem:
            rec = await one_request(client, cycle(i), params, cfg.request_timeout_s, i, vu,
                                    time.monotonic_ns(), True)
            sink(rec)

    await asyncio.gather(*(one(next(order), v % concurrency) for v in range(cfg.warmup_requests)))

