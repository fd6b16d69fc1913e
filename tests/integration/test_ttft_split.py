"""Where time to first token goes (#10 item 1): the five parts of a request's path from due to first
token, stamped by the session's trace hooks, against the scripted server's exact schedule.

The server answers with its response head as soon as it has read a request and writes the first token
TTFT after that, so TTFT lands in the headers -> first-token part; a connection set-up made 30 ms slow
lands in the connect part of new connections only, never of pooled ones.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from deploybench import metrics, protocols
from deploybench.load import one_request
from deploybench.metrics import ttft_split
from deploybench.protocols.base import GenParams, Prompt
from deploybench.schemas import Endpoint, RequestRecord, RunMeta
from deploybench.testing.servers import first_token_timings, scripted_server

TTFT, ITL, N, SLOW_CONNECT_S, REQUESTS = 60.0, 2.0, 4, 0.03, 6


async def _records(url: str) -> list[RequestRecord]:
    slow = aiohttp.TraceConfig()

    async def pause(*_a) -> None:
        await asyncio.sleep(SLOW_CONNECT_S)

    slow.on_connection_create_start.append(pause)
    async with aiohttp.ClientSession(trace_configs=[protocols.send_trace(), slow]) as session:
        client = protocols.create(Endpoint(url=url, protocol="openai-chat", model="scripted"), session)
        return [await one_request(client, Prompt(f"p{i}", "a b c"), GenParams(max_tokens=N), 10, i, 0,
                                  time.monotonic_ns(), False) for i in range(REQUESTS)]


def test_ttft_split_places_server_ttft_and_connection_setup():
    with scripted_server(ttft_ms=TTFT, itl_ms=ITL) as url:
        recs = asyncio.run(_records(url))
        server = first_token_timings(url)
    assert all(r.error is None for r in recs), [r.error for r in recs]
    # one user: a new connection first, then mostly a pooled one (a response left at its [DONE] goes back
    # to the pool only once its body's last bytes are read, so the next request may connect anew)
    reused = [r.reused for r in recs]
    assert reused[0] is False and sum(reused) >= 2, reused
    # the server's own account (one request at a time, so in order): it wrote each first token at or
    # after its due time (read + TTFT; a busy host delays it), and the client read it after that
    assert len(server) == REQUESTS
    for r, (read, due, written) in zip(recs, server):
        assert due == read + int(TTFT * 1e6) and 0 <= written - due < 30e6, (read, due, written)
        assert r.sent_ns <= read and written <= r.chunk_ns[0] < written + 5e6
        parts = ttft_split.parts_ms(r)
        assert parts is not None and all(v >= 0 for v in parts.values()), parts
        # the parts tile the path exactly: schedule lag + TTFT
        total = (r.sent_ns - r.scheduled_ns + r.chunk_ns[0] - r.sent_ns) / 1e6
        assert abs(sum(parts.values()) - total) < 1e-6
        # the server's TTFT (as it actually kept it) is the first-token part: it answers its head at once
        assert abs(parts["first_token"] - (written - read) / 1e6) <= 5.0, (parts, (written - read) / 1e6)
        assert parts["headers"] < 15.0, parts
        if r.reused:
            assert parts["connect"] < 5.0, parts
        else:
            assert parts["connect"] >= SLOW_CONNECT_S * 1e3, parts
    meta = RunMeta(run_id="t", concurrency=1)
    s = metrics.summarize(recs, meta)
    pooled = sum(reused)
    assert s.connections == {"new": REQUESTS - pooled, "pooled": pooled}
    assert s.ttft_split_ms["connect_new"].n == REQUESTS - pooled and s.ttft_split_ms["connect_pooled"].n == pooled
    assert s.ttft_split_ms["connect_new"].p50 >= SLOW_CONNECT_S * 1e3 > s.ttft_split_ms["connect_pooled"].p50
    # (a response head read late shortens the first-token part by as much: the per-request check above)
    assert TTFT - 5 <= s.ttft_split_ms["first_token"].p50 <= TTFT + 30


def test_records_without_split_stamps_still_read_and_summarize():
    """A record stored before the split existed (no started/connected/headers stamps) reads as before."""
    old = ('{"index": 0, "scheduled_ns": 0, "sent_ns": 1000000, "chunk_ns": [5000000, 6000000], '
           '"chunk_tokens": [1, 1], "done_ns": 7000000, "output_tokens": 2, "token_source": "usage"}')
    rec = RequestRecord.model_validate_json(old)
    assert rec.started_ns is None and rec.reused is None and ttft_split.parts_ms(rec) is None
    s = metrics.summarize([rec], RunMeta(run_id="old", concurrency=1))
    assert s.ttft_split_ms == {} and s.connections == {} and s.ttft_ms.p50 == 4.0


def test_scripted_server_without_spinning_reports_its_own_lateness():
    """``spin_ms=0``: the server waits on timers alone and says how late each first token went out."""
    with scripted_server(ttft_ms=20, itl_ms=1, spin_ms=0) as url:
        recs = asyncio.run(_records(url))
        server = first_token_timings(url)
    assert len(server) == REQUESTS and all(r.error is None for r in recs)
    late_ms = [(written - due) / 1e6 for _, due, written in server]
    assert all(0 <= x < 10 for x in late_ms), late_ms


def test_a_stream_left_at_its_end_event_goes_back_to_the_pool():
    """The server holds each stream open 30 ms after [DONE] before its body's last bytes: the client stops
    reading at [DONE] (done_ns is stamped there), and the connection is pooled once those bytes arrive,
    not closed, so the next request (sent after they have) reuses it."""

    async def go(url: str) -> list[RequestRecord]:
        async with protocols.new_session() as session:
            client = protocols.create(Endpoint(url=url, protocol="openai-chat", model="scripted"), session)
            out = []
            for i in range(4):
                out.append(await one_request(client, Prompt(f"p{i}", "a b c"), GenParams(max_tokens=N), 10, i, 0,
                                             time.monotonic_ns(), False))
                await asyncio.sleep(0.1)
            return out

    with scripted_server(ttft_ms=5, itl_ms=1, tail_ms=30) as url:
        recs = asyncio.run(go(url))
    assert all(r.error is None for r in recs)
    assert all((r.done_ns - r.chunk_ns[-1]) < 20e6 for r in recs)  # done at [DONE], not at the body's end
    assert [r.reused for r in recs] == [False, True, True, True]
