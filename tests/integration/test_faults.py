"""Faults a deployment shows under stress, against the scripted server (#11 items 5, 6, 8, 9):
nothing lost, nothing stored as complete that is not, every failure counted by its kind."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from deploybench import api, protocols, storage
from deploybench.load import closed, faults, run_level
from deploybench.protocols.base import GenParams, Prompt
from deploybench.schemas import Deployment, Endpoint, LoadConfig, RunConfig, SyntheticWorkload, Workload
from deploybench.engines import ExternalEngine
from deploybench.sweep.runner import completed_summary
from deploybench.testing.servers import received, scripted_server, stats


def _cfg(url, requests, users=1, max_tokens=8, model="", timeout=10.0):
    return RunConfig(deployment=Deployment(name="s", engine=ExternalEngine(url=url, model=model)),
                     workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=8), max_tokens=max_tokens),
                     load=LoadConfig(rounds=1, concurrency=[users], requests=requests, warmup_requests=0,
                                     request_timeout_s=timeout, scrape_interval_s=0, contention_retries=0))


def _records(study, cell="s__c1"):
    return list(storage.read_records(study / cell))


# ---------------------------------------------------------------- item 9: resend only when never received


def test_request_the_server_read_is_never_sent_again(tmp_path):
    """``fault-close``: the server reads each request, then closes without answering. The client
    cannot know it was not processed: no resend, one error each (a resend here would double-send)."""
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        study, (s,) = api.run(_cfg(url, 3, model="fault-close"), tmp_path, name="close")
        got = received(url)
    assert got == 3, f"the server read {got} requests for 3 sent"
    assert s.errors == 3 and all(r.error.startswith("connection dropped") for r in _records(study))


def test_stale_pooled_connection_is_sent_again(tmp_path):
    """``--drop-reused``: every kept-alive connection is reset when its second request arrives, before
    the server reads it (a stale pooled connection). Those requests go again on a fresh connection
    and succeed; the server reads each request exactly once."""
    with scripted_server(ttft_ms=5, itl_ms=1, drop_reused=True) as url:
        _, (s,) = api.run(_cfg(url, 4), tmp_path, name="stale")
        got = received(url)
    assert s.errors == 0 and s.completed == 4 and got == 4


# ---------------------------------------------------------------- item 8: the error mix, counted by kind


def test_error_mix_is_counted_by_kind_and_the_level_completes(tmp_path):
    """``fault-mix`` cycles fine, 429 (Retry-After: 1), stall after 4 tokens, reset after 4 tokens,
    first byte 1.5 s late; with a 1 s timeout, 10 requests give 2 of each."""
    with scripted_server(ttft_ms=5, itl_ms=2) as url:
        t0 = time.monotonic()
        study, (s,) = api.run(_cfg(url, 10, users=2, model="fault-mix", timeout=1.0), tmp_path, name="mix")
    assert time.monotonic() - t0 < 15
    assert s.requests == 10 and s.completed == 2 and "truncated" not in s.flags
    assert s.errors_by_kind == {"http-429": 2, "timeout-stalled": 2, "connection-reset": 2,
                                "timeout-first-byte": 2}, s.errors_by_kind
    stalled = [r for r in _records(study, "s__c2") if "stalled" in (r.error or "")]
    assert all(len(r.chunk_ns) == 4 for r in stalled)  # the partial tokens are kept
    assert storage.read_meta(study / "s__c2").status == "complete"
    from deploybench.report.context import build_context

    notes = build_context(study).notes
    assert any("s__c2: 2 connection-reset, 2 http-429, 2 timeout-first-byte, 2 timeout-stalled" in n
               for n in notes), notes


# ---------------------------------------------------------------- item 5: a level cut by its hard limit


def test_hard_limit_stores_requests_in_flight_and_flags_the_cell(tmp_path, monkeypatch):
    """Two 3-second streams cut at 1 s: both stored as cancelled (with their partial tokens), the cell
    flagged truncated; none silently dropped."""
    monkeypatch.setattr(closed, "hard_limit_s", lambda *a: 1.0)
    with scripted_server(ttft_ms=20, itl_ms=100) as url:
        study, (s,) = api.run(_cfg(url, 4, users=2, max_tokens=30), tmp_path, name="cut")
    recs = _records(study, "s__c2")
    assert len(recs) == 2 and all(r.error == "cancelled: level hard limit" and r.chunk_ns for r in recs), recs
    assert "truncated" in s.flags and s.errors == 2 and s.errors_by_kind == {"cancelled": 2}


# ---------------------------------------------------------------- item 6: a server that dies mid-level


def test_server_dying_mid_level_fails_the_cell_fast_and_resume_measures_it_again(tmp_path):
    """The server exits at its 30th request of a 2,000-request level: the level stops within a second or
    two (back-off, no hot loop), the cell is stored failed with the reason, and the next run measures it."""
    with scripted_server(ttft_ms=2, itl_ms=1, exit_after=30) as url:
        t0 = time.monotonic()
        study, (s,) = api.run(_cfg(url, 2000, users=4, max_tokens=4, timeout=5), tmp_path, name="die")
        took = time.monotonic() - t0
    meta = storage.read_meta(study / "s__c4")
    assert took < 8, took
    assert meta.status == "failed" and "refused" in (meta.note or "") and "failed" in s.flags, meta
    assert s.requests < 60, s.requests  # 29 answered, the in-flight ones dropped, a few refused
    assert completed_summary(study / "s__c4") is None
    with scripted_server(ttft_ms=2, itl_ms=1) as url:
        _, (again,) = api.run(_cfg(url, 8, users=4, max_tokens=4), tmp_path, name="die")
    assert again.errors == 0 and again.requests == 8 and storage.read_meta(study / "s__c4").status == "complete"
    assert len(list(study.glob("s__c4.incomplete-*"))) == 1  # the failed try, kept aside


def test_server_process_exit_stops_the_level_at_once(tmp_path):
    """With the engine's process known, its exit stops the level at the next poll (no refusals needed)."""
    async def level(url: str, pid: int) -> tuple:
        watch = faults.ServerWatch(faults.process_alive(pid), refusals=10**6)
        token = faults.SERVER_WATCH.set(watch)
        recs: list = []
        try:
            async with aiohttp.ClientSession(trace_configs=[protocols.send_trace()]) as session:
                client = protocols.create(Endpoint(url=url, model="scripted"), session)
                prompts = [Prompt(f"p{i}", "a b c") for i in range(8)]
                res = await run_level(client, prompts, GenParams(max_tokens=4), 4,
                                      LoadConfig(rounds=1, concurrency=[4], requests=2000, warmup_requests=0,
                                                 request_timeout_s=5), recs.append)
        finally:
            faults.SERVER_WATCH.reset(token)
        return res, recs

    with scripted_server(ttft_ms=2, itl_ms=1, exit_after=30) as url:
        t0 = time.monotonic()
        res, recs = asyncio.run(level(url, stats(url)["pid"]))
    assert time.monotonic() - t0 < 5
    assert res.failed and "exited" in res.failed and len(recs) < 60


def test_real_llama_server_killed_mid_level_fails_the_cell(tmp_path, have_llama):
    """The engine deploybench started is killed (SIGKILL) at its 10th answer of a 2,000-request level:
    its exit stops the level, the cell is stored failed with the reason, and resume would measure it."""
    import os
    import signal
    import threading

    from deploybench.engines import LlamaCppEngine
    from tests.procs import llama_servers_on

    cfg = _cfg("http://x", 2000, users=2, max_tokens=4)
    cfg.deployment = Deployment(name="llama", engine=LlamaCppEngine(threads=1, parallel=2, ctx_size=512))
    cell = tmp_path / "kill" / "llama__c2"

    def killer() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if (cell / "records.jsonl").exists() and len(storage.read_records(cell)) >= 10:
                argv = storage.read_meta(cell).engine.argv
                for pid in llama_servers_on(int(argv[argv.index("--port") + 1])):
                    os.kill(pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    t0 = time.monotonic()
    _, (s,) = api.run(cfg, tmp_path, name="kill")
    thread.join(5)
    meta = storage.read_meta(cell)
    assert meta.status == "failed" and "exited" in (meta.note or ""), (meta.status, meta.note)
    assert "failed" in s.flags and s.requests < 40, s.requests
    assert completed_summary(cell) is None and time.monotonic() - t0 < 60


def test_open_loop_stops_when_the_server_dies_and_fails_the_cell(tmp_path):
    """Open loop at 40 req/s for 20 s; the server exits at its 30th request: the schedule stops within
    a second or two and the cell is stored failed."""
    from deploybench.schemas import RateLevel

    cfg = _cfg("http://x", None, max_tokens=4, timeout=5)
    cfg.load = LoadConfig(rounds=1, levels=[RateLevel(rps=40, arrival="constant")], duration_s=20, warmup_requests=0,
                          request_timeout_s=5, scrape_interval_s=0, contention_retries=0)
    with scripted_server(ttft_ms=2, itl_ms=20, exit_after=30) as url:
        cfg.deployment.engine.url = url
        t0 = time.monotonic()
        study, (s,) = api.run(cfg, tmp_path, name="open")
    assert time.monotonic() - t0 < 10
    (cell,) = [d for d in study.iterdir() if d.name.startswith("s__r40")]
    meta = storage.read_meta(cell)
    assert meta.status == "failed" and "refused" in (meta.note or "") and "failed" in s.flags
    assert s.requests < 60 and s.errors_by_kind.get("connection-refused", 0) >= faults.REFUSALS, s.errors_by_kind
