"""Closed-loop load (k6 ``constant-vus``): N virtual users, no think time, bounded in requests and time."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence

from ..protocols.base import Draft, GenParams, Prompt
from ..schemas import LoadConfig, RequestRecord
from . import faults
from .level import (COORDINATED, HARD_LIMIT, Deadline, LevelResult, Progress, chat_sessions, hard_limit_s,
                    warm_up)
from .request import ProtocolClient, request_draft


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
        await warm_up(client, cycle, params, concurrency, cfg, sink, order)
    if (co := COORDINATED.get()) is not None:  # every worker's level starts at the same instant
        await co.ready()
    users = _Users(client, prompts, params, cfg, sink, progress, prompt_offset, order, cycle)
    hard_stop = hard_limit_s(cfg, users.budget, concurrency)
    tasks = [asyncio.create_task(users.user(v)) for v in range(concurrency)]
    watch, deadline, why = users.watch, users.deadline, users.why
    helpers = [asyncio.create_task(watch.watch()), asyncio.create_task(_stop_when_gone(watch, tasks, why))]
    helpers += ([asyncio.create_task(deadline.watch(users.seen, users=concurrency))]
                if cfg.adaptive or COORDINATED.get() else [])
    cut = await _supervise(tasks, helpers, hard_stop, why)
    return users.result(cut)


class _Users:
    """What a closed level's users share: the request and session counters, the records that came back,
    the deadline, the server watch and why requests still in flight are cancelled."""

    def __init__(self, client: ProtocolClient, prompts: Sequence[Prompt], params: GenParams, cfg: LoadConfig,
                 sink: Callable[[RequestRecord], None], progress: Progress | None, prompt_offset: int,
                 order: itertools.count, cycle: Callable[[int], Prompt]) -> None:
        self.client, self.params, self.cfg, self.sink, self.progress = client, params, cfg, sink, progress
        self.order, self.cycle, self.prompt_offset = order, cycle, prompt_offset
        self.budget = cfg.requests if cfg.requests is not None else None
        self.claimed = itertools.count()
        self.start = time.monotonic_ns()
        self.deadline = Deadline(self.start, cfg)
        self.last_done = self.start
        self.measured = 0
        self.seen: list[RequestRecord] = []
        self.watch = faults.SERVER_WATCH.get() or faults.ServerWatch()
        self.why = ["interrupted"]  # what cancels the requests still in flight, if anything does
        self.loop = asyncio.get_running_loop()
        self.sessions = chat_sessions(prompts)
        self.session_ids = itertools.count(prompt_offset)

    def deliver(self, rec: RequestRecord) -> None:
        self.sink(rec)
        self.seen.append(rec)
        if self.progress:
            self.progress.request_done(rec)

    def cancelled(self, rec: RequestRecord) -> None:  # stored, never dropped
        rec.error = f"cancelled: {self.why[0]}"
        self.measured += 1
        self.deliver(rec)

    async def user(self, vu: int) -> None:
        cfg, deadline, watch, budget, loop = self.cfg, self.deadline, self.watch, self.budget, self.loop
        scheduled = self.start
        turns: list[Prompt] = []  # multi-turn: the rest of this user's current session
        while True:
            n = next(self.claimed)
            if (budget is not None and n >= budget) or deadline.passed() or watch.reason:
                return
            i = next(self.order)
            if self.sessions:
                if not turns:
                    turns = list(self.sessions[next(self.session_ids) % len(self.sessions)])
                prompt = turns.pop(0)
                if prompt.turn > 0 and prompt.think_s > 0:  # the user reads and types: not client lag
                    await asyncio.sleep(prompt.think_s)
                    scheduled = time.monotonic_ns()
            else:
                prompt = self.cycle(i)
            rec, draft = await request_draft(self.client, prompt, self.params, cfg.request_timeout_s, i, vu,
                                             scheduled, False, self.cancelled)
            # storing and progress run on the next loop turn, after this user has sent its next request
            loop.call_soon(self.deliver, rec)
            self.measured += 1
            self.last_done = max(self.last_done, rec.done_ns)
            scheduled = rec.done_ns
            pause = watch.after(rec.error) or _retry_after(rec, draft, deadline)
            if pause > 0:  # back-off from a refusing server, or its Retry-After: waiting asked for, not lag
                await asyncio.sleep(pause)
                scheduled = time.monotonic_ns()
            else:  # one turn of the loop first: the other streams the same read woke stamp their events
                await asyncio.sleep(0)  # before this user sends its next request (sending costs the most)

    def result(self, cut: bool) -> LevelResult:
        deadline, start = self.deadline, self.start
        end = min(deadline.at, self.last_done) if deadline.at else self.last_done
        if deadline.at:  # a closed loop's window ends at its last completion inside the budget (see window_end)
            end = window_end(self.seen, start, end)
        used = (next(self.session_ids) - self.prompt_offset) if self.sessions else next(self.order)
        return LevelResult(start, end, measured=self.measured, warmup=self.cfg.warmup_requests, stopped_early=cut,
                           prompts_used=used, imprecise=deadline.imprecise,
                           truncated=cut, failed=self.watch.reason)


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
