"""Open-loop load: requests leave at scheduled arrival times, whether or not earlier ones finished.

A request's ``scheduled_ns`` is its arrival time (level start + offset), so schedule lag
(``sent_ns - scheduled_ns``) says how late the client sent it. With ``max_in_flight``, an arrival
that finds that many requests in flight is **dropped**: stored as a record with error
``dropped: ...`` (it counts as an error), never silently skipped and never delayed (delaying
would turn the open loop back into a closed one).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Sequence

from .._clock import sleep_until
from ..protocols.base import GenParams, Prompt
from ..schemas import LoadConfig, RequestRecord
from . import faults
from .level import COORDINATED, HARD_LIMIT, Deadline, LevelResult, Progress, warm_up
from .request import ProtocolClient, one_request

LEAD_NS = 20_000_000  # the first arrival is 20 ms after the level starts: time to set up the loop


def dropped_record(index: int, prompt: Prompt, params: GenParams, t_ns: int, limit: int) -> RequestRecord:
    return RequestRecord.model_construct(
        index=index, vu=0, warmup=False, prompt_id=prompt.id, scheduled_ns=t_ns, sent_ns=t_ns, chunk_ns=[],
        chunk_tokens=[], done_ns=t_ns, input_tokens=None, output_tokens=None, token_source="none",
        max_tokens=getattr(prompt, "max_tokens", None) or params.max_tokens, finish_reason=None, http_status=None,
        error=f"dropped: {limit} requests already in flight (max_in_flight)")


async def run_open_level(client: ProtocolClient, prompts: Sequence[Prompt], params: GenParams,
                         offsets_s: Sequence[float], cfg: LoadConfig, sink: Callable[[RequestRecord], None],
                         progress: Progress | None = None, prompt_offset: int = 0,
                         max_in_flight: int | None = None, aligned: bool = False) -> LevelResult:
    """Send request i at ``start + offsets_s[i]`` until the schedule or the window ends.

    ``aligned``: prompt i belongs to arrival i (trace replay); otherwise prompts are taken in
    order from ``prompt_offset`` (as the closed loop does).
    """
    order = itertools.count()
    cycle = (lambda i: prompts[i % len(prompts)]) if aligned else (lambda i: prompts[(prompt_offset + i) % len(prompts)])
    if cfg.warmup_requests and not aligned:
        await warm_up(client, cycle, params, 1, cfg, sink, order)
    first = next(order) if not aligned else 0
    if (co := COORDINATED.get()) is not None:  # every worker's schedule starts at the same instant
        await co.ready()
    arrivals = _Arrivals(client, cycle, params, cfg, sink, progress, time.monotonic_ns() + LEAD_NS)
    deadline, watch = arrivals.deadline, arrivals.watch
    helpers = [asyncio.create_task(watch.watch())]
    helpers += [asyncio.create_task(deadline.watch(arrivals.seen))] if cfg.adaptive or COORDINATED.get() else []
    try:
        sent, cut = await arrivals.send(offsets_s, first, max_in_flight)
        truncated = await arrivals.drain(helpers)
    finally:
        await arrivals.cancel(helpers)
    # cut by the window: it ends at the deadline (the schedule went on past it); a schedule that ran
    # out (a request budget, a trace's end) ends at the last completion, as a request-bounded level does
    end = deadline.at if cut and deadline.at else arrivals.last_done
    return LevelResult(arrivals.start, end, measured=sent, warmup=cfg.warmup_requests, stopped_early=False,
                       prompts_used=(first + len(offsets_s)) if not aligned else 0,
                       imprecise=deadline.imprecise, truncated=truncated,
                       failed=watch.reason)


class _Arrivals:
    """What an open level's arrivals share: the requests in flight, the records that came back, the
    deadline, the server watch and why requests still in flight are cancelled."""

    def __init__(self, client: ProtocolClient, cycle: Callable[[int], Prompt], params: GenParams, cfg: LoadConfig,
                 sink: Callable[[RequestRecord], None], progress: Progress | None, start: int) -> None:
        self.client, self.cycle, self.params, self.cfg = client, cycle, params, cfg
        self.sink, self.progress = sink, progress
        self.start = start
        self.deadline = Deadline(start, cfg)
        self.seen: list[RequestRecord] = []
        self.in_flight: set[asyncio.Task] = set()
        self.last_done = start
        self.loop = asyncio.get_running_loop()
        self.watch = faults.SERVER_WATCH.get() or faults.ServerWatch()
        self.why = ["interrupted"]  # what cancels the requests still in flight, if anything does

    def deliver(self, rec: RequestRecord) -> None:
        self.sink(rec)
        self.seen.append(rec)
        self.last_done = max(self.last_done, rec.done_ns)
        if self.progress:
            self.progress.request_done(rec)

    def cancelled(self, rec: RequestRecord) -> None:  # stored, never dropped
        rec.error = f"cancelled: {self.why[0]}"
        self.deliver(rec)

    async def fire(self, i: int, t_ns: int) -> None:
        rec = await one_request(self.client, self.cycle(i), self.params, self.cfg.request_timeout_s, i, 0, t_ns,
                                False, self.cancelled)
        self.watch.after(rec.error)
        self.loop.call_soon(self.deliver, rec)

    async def send(self, offsets_s: Sequence[float], first: int, max_in_flight: int | None) -> tuple[int, bool]:
        """Start each arrival at its time (or store it dropped); (requests sent, cut by the window or a
        server gone)."""
        deadline, watch, in_flight, start = self.deadline, self.watch, self.in_flight, self.start
        sent = 0
        for n, off in enumerate(offsets_s):
            t_ns = start + int(off * 1e9)
            if deadline.at is not None and t_ns >= deadline.at:
                return sent, True
            await sleep_until(t_ns)
            if deadline.passed() or watch.reason:
                return sent, True
            i = first + n
            if max_in_flight is not None and len(in_flight) >= max_in_flight:
                self.deliver(dropped_record(i, self.cycle(i), self.params, t_ns, max_in_flight))
                continue
            task = asyncio.create_task(self.fire(i, t_ns))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            sent += 1
        return sent, False

    async def drain(self, helpers: list[asyncio.Task]) -> bool:
        """Wait for the requests in flight, up to the safety limit, or until the server is gone; True when
        the safety limit cut them (they are then stored as cancelled)."""
        in_flight, watch = self.in_flight, self.watch
        if in_flight and not watch.reason:
            gone = asyncio.create_task(watch.stopped.wait())
            helpers.append(gone)
            limit = time.monotonic() + self.cfg.request_timeout_s + 5
            while in_flight and not gone.done() and (left := limit - time.monotonic()) > 0:
                await asyncio.wait(set(in_flight) | {gone}, timeout=left, return_when=asyncio.FIRST_COMPLETED)
        truncated = bool(in_flight) and not watch.reason
        self.why[0] = watch.reason or (HARD_LIMIT if truncated else self.why[0])
        return truncated

    async def cancel(self, helpers: list[asyncio.Task]) -> None:
        """Cancel what is still in flight and the helpers; let the last deferred deliveries run."""
        for t in list(self.in_flight) + helpers:
            t.cancel()
        await asyncio.gather(*self.in_flight, *helpers, return_exceptions=True)
        await asyncio.sleep(0)
