"""Closed-loop load (k6 ``constant-vus``): N virtual users, no think time, bounded in requests and time.

``load`` owns the :class:`ProtocolClient` Protocol; any object with an async ``send(prompt,
params, draft)`` works (OpenAI, TGI, SageMaker, a test double).
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import time
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from ..protocols.base import Draft, GenParams, Prompt
from ..schemas import LoadConfig, RequestRecord
from . import faults

__all__ = ["COORDINATED", "Coordinated", "Deadline", "JUDGE", "Judge", "LevelResult", "ProtocolClient", "run_level", "run_open_level",
           "one_request", "Progress", "request_draft"]


RESENDS = 2  # resends of a request that died on a stale pooled connection before the server read it
HARD_LIMIT = "level hard limit"


class ProtocolClient(Protocol):
    async def send(self, prompt: Prompt, params: GenParams, draft: Draft) -> None: ...


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
        from ..metrics.intervals import precision_met  # scipy: not imported by load workers, which never judge

        ok, _ = await asyncio.to_thread(precision_met, list(seen), start_ns, now_ns, cfg.target_half_width,
                                        cfg.precision_figures, users)
        return ok
    return judge


async def one_request(client: ProtocolClient, prompt: Prompt, params: GenParams, timeout_s: float,
                      index: int, vu: int, scheduled_ns: int, warmup: bool,
                      cancelled: Callable[[RequestRecord], None] | None = None) -> RequestRecord:
    """Send one request; every failure becomes an ``error`` in the record, never an exception.

    Cancelled in flight (a level's hard limit, a server gone, Ctrl-C), the request is handed to
    ``cancelled`` as a record with error ``cancelled`` (partial tokens kept) before the cancellation goes on.
    """
    return (await request_draft(client, prompt, params, timeout_s, index, vu, scheduled_ns, warmup, cancelled))[0]


async def request_draft(client: ProtocolClient, prompt: Prompt, params: GenParams, timeout_s: float, index: int,
                        vu: int, scheduled_ns: int, warmup: bool,
                        cancelled: Callable[[RequestRecord], None] | None = None) -> tuple[RequestRecord, Draft]:
    """:func:`one_request`, with the protocol's scratchpad (``retry_after_s``)."""
    own = getattr(prompt, "max_tokens", None)  # a workload may give each request its own output length
    if own:
        params = dataclasses.replace(params, max_tokens=own)
    draft = Draft()
    try:
        for attempt in range(RESENDS + 1):
            try:
                async with asyncio.timeout(timeout_s):  # not wait_for: on 3.11 it swallows a Ctrl-C landing
                    await client.send(prompt, params, draft)  # as the answer ends, and the run went on
                break
            except (aiohttp.ClientOSError, aiohttp.ClientConnectionResetError, aiohttp.ServerDisconnectedError) as exc:
                if attempt == RESENDS or not faults.never_reached(exc, draft):
                    raise
                draft = Draft()  # a stale pooled connection reset before the server read it: send again
    except asyncio.CancelledError:
        if cancelled is not None:
            draft.error = "cancelled"
            cancelled(_record(draft, prompt, params, index, vu, scheduled_ns, warmup))
        raise
    except (asyncio.TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError, UnicodeError) as exc:
        draft.error = faults.describe(exc, draft, timeout_s)
    return _record(draft, prompt, params, index, vu, scheduled_ns, warmup), draft


def _record(draft: Draft, prompt: Prompt, params: GenParams, index: int, vu: int, scheduled_ns: int,
            warmup: bool) -> RequestRecord:
    done = draft.done_ns if (draft.done_ns and draft.error is None) else time.monotonic_ns()
    return RequestRecord.model_construct(
        index=index, vu=vu, warmup=warmup, prompt_id=prompt.id, scheduled_ns=scheduled_ns,
        started_ns=draft.started_ns or None, connected_ns=draft.connected_ns or None,
        reused=draft.reused if draft.connected_ns else None, headers_ns=draft.headers_ns or None,
        sent_ns=draft.sent_ns or done, chunk_ns=draft.chunk_ns, chunk_tokens=draft.chunk_tokens,
        first_content_ns=draft.first_content_ns,
        done_ns=done, input_tokens=draft.input_tokens, output_tokens=draft.output_tokens,
        token_source=draft.token_source if draft.token_source in ("usage", "tokenizer", "chunks") else "none",
        max_tokens=params.max_tokens, finish_reason=draft.finish_reason, error=draft.error,
        http_status=draft.http_status,
    )


async def run_level(client: ProtocolClient, prompts: Sequence[Prompt], params: GenParams, concurrency: int,
                    cfg: LoadConfig, sink: Callable[[RequestRecord], None], progress: Progress | None = None,
                    prompt_offset: int = 0) -> LevelResult:
    """Warm up, then run ``concurrency`` closed-loop users until the request or time budget is spent.

    Prompts are taken in order (request i gets prompt i), as the 2023 study did. A user starts no
    new request after the deadline; requests still in flight finish (drain) and are stored, but
    only those completing inside the window count toward throughput.
    """
    order = itertools.count()
    cycle = lambda i: prompts[(prompt_offset + i) % len(prompts)]  # noqa: E731
    if cfg.warmup_requests:
        await _warmup(client, cycle, params, concurrency, cfg, sink, order)
    if (co := COORDINATED.get()) is not None:  # every worker's level starts at the same instant
        await co.ready()
    budget = cfg.requests if cfg.requests is not None else None
    claimed = itertools.count()
    start = time.monotonic_ns()
    deadline = Deadline(start, cfg)
    hard_stop = hard_limit_s(cfg, budget, concurrency)
    last_done = [start]
    measured = [0]
    seen: list[RequestRecord] = []
    watch = faults.SERVER_WATCH.get() or faults.ServerWatch()
    why = ["interrupted"]  # what cancels the requests still in flight, if anything does

    loop = asyncio.get_running_loop()

    def deliver(rec: RequestRecord) -> None:
        sink(rec)
        seen.append(rec)
        if progress:
            progress.request_done(rec)

    def cancelled(rec: RequestRecord) -> None:  # stored, never dropped
        rec.error = f"cancelled: {why[0]}"
        measured[0] += 1
        deliver(rec)

    sessions = chat_sessions(prompts)
    session_ids = itertools.count(prompt_offset)

    async def user(vu: int) -> None:
        scheduled = start
        turns: list[Prompt] = []  # multi-turn: the rest of this user's current session
        while True:
            n = next(claimed)
            if (budget is not None and n >= budget) or deadline.passed() or watch.reason:
                return
            i = next(order)
            if sessions:
                if not turns:
                    turns = list(sessions[next(session_ids) % len(sessions)])
                prompt = turns.pop(0)
                if prompt.turn > 0 and prompt.think_s > 0:  # the user reads and types: not client lag
                    await asyncio.sleep(prompt.think_s)
                    scheduled = time.monotonic_ns()
            else:
                prompt = cycle(i)
            rec, draft = await request_draft(client, prompt, params, cfg.request_timeout_s, i, vu, scheduled,
                                             False, cancelled)
            # storing and progress run on the next loop turn, after this user has sent its next request
            loop.call_soon(deliver, rec)
            measured[0] += 1
            last_done[0] = max(last_done[0], rec.done_ns)
            scheduled = rec.done_ns
            pause = watch.after(rec.error) or _retry_after(rec, draft, deadline)
            if pause > 0:  # back-off from a refusing server, or its Retry-After: waiting asked for, not lag
                await asyncio.sleep(pause)
                scheduled = time.monotonic_ns()
            else:  # one turn of the loop first: the other streams the same read woke stamp their events
                await asyncio.sleep(0)  # before this user sends its next request (sending costs the most)

    tasks = [asyncio.create_task(user(v)) for v in range(concurrency)]
    helpers = [asyncio.create_task(watch.watch()), asyncio.create_task(_stop_when_gone(watch, tasks, why))]
    helpers += ([asyncio.create_task(deadline.watch(seen, users=concurrency))]
                if cfg.adaptive or COORDINATED.get() else [])
    cut = await _supervise(tasks, helpers, hard_stop, why)
    end = min(deadline.at, last_done[0]) if deadline.at else last_done[0]
    if deadline.at:  # a closed loop's window ends at its last completion inside the budget (see window_end)
        end = window_end(seen, start, end)
    used = (next(session_ids) - prompt_offset) if sessions else next(order)
    return LevelResult(start, end, measured=measured[0], warmup=cfg.warmup_requests, stopped_early=cut,
                       prompts_used=used, imprecise=deadline.imprecise,
                       truncated=cut, failed=watch.reason)


def window_end(records: Sequence[RequestRecord], start_ns: int, budget_end_ns: int) -> int:
    """The last successful completion in [start, budget end] (the budget end when there is none).

    Users that move in waves (a batch of prompts prefilled together, then decoded together) would
    otherwise leave a wave's prefill inside the window without the tokens it leads to: a 3 s window
    over 2.1 s waves counted 1 wave of tokens in 3 s, identical in every round, whatever the server.
    """
    ends = [r.done_ns for r in records if r.error is None and not r.warmup and start_ns < r.done_ns <= budget_end_ns]
    return max(ends, default=budget_end_ns)


async def _supervise(tasks: list[asyncio.Task], helpers: list[asyncio.Task], hard_stop: float, why: list[str]) -> bool:
    """Wait for the users, at most ``hard_stop`` s; cancel whatever is left (its requests in flight are
    stored as ``cancelled: <why>``). True when the hard limit cut the level."""
    done: set[asyncio.Task] = set()
    pending: set[asyncio.Task] = set()
    try:
        done, pending = await asyncio.wait(tasks, timeout=hard_stop)
        if pending:
            why[0] = HARD_LIMIT
    finally:
        for t in tasks + helpers:
            t.cancel()
        await asyncio.gather(*tasks, *helpers, return_exceptions=True)
        await asyncio.sleep(0)  # let the last deferred deliveries run
    for t in done:
        if not t.cancelled() and t.exception():
            raise t.exception()
    return bool(pending)


def hard_limit_s(cfg: LoadConfig, budget: int | None, concurrency: int) -> float:
    """The safety limit on a closed level's length; a level cut there is stored ``truncated``.

    Past the window, each user's requests may each take a request timeout, plus as long again for a
    Retry-After pause (capped at a request timeout, :func:`_retry_after`).
    """
    longest = cfg.max_duration_s if cfg.adaptive else cfg.duration_s
    return (longest or 0) + 2 * cfg.request_timeout_s * (1 + (budget or 1) / concurrency)


def _retry_after(rec: RequestRecord, draft: Draft, deadline: Deadline) -> float:
    """Seconds a closed-loop user waits after a 429/503 with Retry-After (capped at a request timeout and
    ``RETRY_AFTER_MAX_S``, never past the deadline)."""
    cfg_timeout = deadline.cfg.request_timeout_s
    if rec.http_status not in (429, 503) or not draft.retry_after_s:
        return 0.0
    wait = min(draft.retry_after_s, faults.RETRY_AFTER_MAX_S, cfg_timeout)
    if deadline.at is not None:
        wait = min(wait, max(0.0, (deadline.at - time.monotonic_ns()) / 1e9))
    return wait


async def _stop_when_gone(watch: faults.ServerWatch, tasks: list[asyncio.Task], why: list[str]) -> None:
    """The server is gone: stop every user now (requests in flight are stored as cancelled)."""
    await watch.stopped.wait()
    why[0] = watch.reason or "server gone"
    for t in tasks:
        t.cancel()


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


async def _warmup(client, cycle, params, concurrency, cfg, sink, order) -> None:
    """``warmup_requests`` requests, up to ``concurrency`` at a time, stored with ``warmup=True``."""
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int, vu: int) -> None:
        async with sem:
            rec = await one_request(client, cycle(i), params, cfg.request_timeout_s, i, vu,
                                    time.monotonic_ns(), True)
            sink(rec)

    await asyncio.gather(*(one(next(order), v % concurrency) for v in range(cfg.warmup_requests)))


from .openloop import run_open_level  # noqa: E402  (uses the names above)
