"""Closed-loop semantics with an in-process client double (timing checks use the scripted server)."""

import asyncio
import time

import pytest

from deploybench.load import run_level
from deploybench.protocols.base import GenParams, Prompt
from deploybench.schemas import LoadConfig


class SleepyClient:
    """Answers every request after `delay` s with `n` one-token chunks; tracks concurrency."""

    def __init__(self, delay=0.01, n=3, fail_every=0):
        self.delay, self.n, self.fail_every = delay, n, fail_every
        self.active = self.peak = self.calls = 0
        self.prompts = []

    async def send(self, prompt, params, draft):
        self.calls += 1
        me = self.calls
        self.prompts.append(prompt.id)
        self.active += 1
        self.peak = max(self.peak, self.active)
        draft.sent_ns = time.monotonic_ns()
        try:
            await asyncio.sleep(self.delay)
            if self.fail_every and me % self.fail_every == 0:
                raise ValueError("boom")
            for _ in range(self.n):
                draft.chunk_ns.append(time.monotonic_ns())
                draft.chunk_tokens.append(1)
            draft.output_tokens, draft.token_source = self.n, "usage"
        finally:
            self.active -= 1


PROMPTS = [Prompt(id=f"p{i}", text="x") for i in range(5)]


async def test_request_budget_and_concurrency():
    client, recs = SleepyClient(), []
    res = await run_level(client, PROMPTS, GenParams(), 4, LoadConfig(requests=10, warmup_requests=3), recs.append)
    assert client.calls == 13 and client.peak == 4
    assert sum(r.warmup for r in recs) == 3 and res.measured == 10
    # prompts are taken in order, cycling (warm-up first)
    assert client.prompts[:7] == ["p0", "p1", "p2", "p3", "p4", "p0", "p1"]
    assert res.window_end_ns == max(r.done_ns for r in recs if not r.warmup)


async def test_closed_loop_schedule_is_previous_completion():
    client, recs = SleepyClient(delay=0.005), []
    await run_level(client, PROMPTS, GenParams(), 1, LoadConfig(requests=5, warmup_requests=0), recs.append)
    for prev, nxt in zip(recs, recs[1:]):
        assert nxt.scheduled_ns == prev.done_ns and nxt.sent_ns >= nxt.scheduled_ns


async def test_duration_budget_stops_new_requests():
    client, recs = SleepyClient(delay=0.05), []
    t0 = time.monotonic()
    res = await run_level(client, PROMPTS, GenParams(), 2, LoadConfig(duration_s=0.3, warmup_requests=0), recs.append)
    assert time.monotonic() - t0 < 0.3 + 0.05 + 0.2
    # the window ends at the last completion inside the 0.3 s budget (a whole number of 50 ms requests)
    inside = [r.done_ns for r in recs if r.done_ns <= res.window_start_ns + 0.3e9]
    assert res.window_end_ns == max(inside)
    assert 0.25e9 <= res.window_end_ns - res.window_start_ns <= 0.3e9
    assert 8 <= len(recs) <= 14


async def test_client_exceptions_become_records():
    client, recs = SleepyClient(fail_every=2), []
    await run_level(client, PROMPTS, GenParams(), 2, LoadConfig(requests=6, warmup_requests=0), recs.append)
    assert len(recs) == 6 and sum(1 for r in recs if r.error) == 3
    assert all("malformed response" in r.error for r in recs if r.error)


def test_ctrl_c_landing_as_an_answer_ends_stops_the_request():
    """A cancellation (Ctrl-C, SIGTERM) that arrives in the same loop step as the answer's end propagates.

    ``asyncio.wait_for`` on Python 3.11 returned the finished answer instead and swallowed it: the run
    went on after Ctrl-C (3 in 25 background runs never stopped)."""
    from deploybench.load import one_request

    class EndsOnEvent:
        def __init__(self):
            self.ev = asyncio.Event()

        async def send(self, prompt, params, draft):
            draft.sent_ns = time.monotonic_ns()
            await self.ev.wait()

    async def main():
        client = EndsOnEvent()
        seen = []
        task = asyncio.create_task(one_request(client, PROMPTS[0], GenParams(max_tokens=3), 30, 0, 0,
                                               time.monotonic_ns(), False, seen.append))
        await asyncio.sleep(0.01)
        client.ev.set()  # the answer ends ...
        task.cancel()  # ... and Ctrl-C lands in the same step
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
