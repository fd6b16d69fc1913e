"""Load from several client processes (``load.workers``) against the scripted server: merged records
summarize like one process, the coordinator's adaptive window stops every worker, a dead worker fails
the cell without losing what it streamed."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from deploybench import api, storage
from deploybench.engines import ExternalEngine
from deploybench.schemas import Deployment, LoadConfig, RunConfig, SyntheticWorkload, Workload
from deploybench.testing.servers import scripted_server

pytestmark = pytest.mark.slow

TTFT, ITL, TOKENS = 50, 10, 16


def cfg_for(url: str, **load) -> RunConfig:
    load = {"warmup_requests": 1, "request_timeout_s": 10, **load}
    return RunConfig(deployment=Deployment(name="scripted", engine=ExternalEngine(url=url)),
                     workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=3000), max_tokens=TOKENS),
                     load=LoadConfig(**load))


def listening_not_loopback() -> list:
    """Listening sockets of this process and its children that are not on 127.0.0.1/::1."""
    bad = []
    for p in [psutil.Process()] + psutil.Process().children(recursive=True):
        try:
            conns = p.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        bad += [(p.pid, c.laddr) for c in conns if c.status == psutil.CONN_LISTEN and c.laddr.ip not in ("127.0.0.1", "::1")]
    return bad


def test_two_workers_store_merged_records_that_summarize_like_one(tmp_path):
    levels = [{"kind": "rate", "rps": 40, "arrival": "constant"}]
    with scripted_server(ttft_ms=TTFT, itl_ms=ITL) as url:
        _, one = api.run(cfg_for(url, concurrency=[8], levels=levels, duration_s=1.5), tmp_path, name="one")
        study, two = api.run(cfg_for(url, concurrency=[8], levels=levels, duration_s=1.5, workers=2), tmp_path,
                             name="two")
    assert not listening_not_loopback()
    per_req = (TTFT + (TOKENS - 1) * ITL) / 1000
    for a, b in zip(one, two):
        recs = storage.read_records(study / b.run_id)
        assert {r.worker for r in recs} == {0, 1} and all(r.clock_offset_ns == 0 for r in recs)
        assert storage.read_meta(study / b.run_id).status == "complete"
        assert len({r.index for r in recs}) == len(recs)  # numbered as one process numbers them
        assert b.errors == 0 and abs(b.ttft_ms.p50 - TTFT) < 6 and abs(b.ttft_ms.p50 - a.ttft_ms.p50) < 5
        if b.level_kind == "rate":  # the whole schedule, dealt between the workers, left on time
            assert b.requests == a.requests == 60, (a.requests, b.requests)
            assert abs(b.achieved_rps - 40) / 40 < 0.02, b.achieved_rps
            assert abs(b.request_throughput_rps - a.request_throughput_rps) / a.request_throughput_rps < 0.03
        else:  # 8 users x 1.5 s / (50 ms + 15 x 10 ms)
            expect = 8 * 1.5 / per_req
            assert 0.85 * expect <= b.requests <= 8 + 1.1 * expect, (b.requests, expect)
            assert abs(b.requests - a.requests) <= 8
            assert abs(b.output_throughput_tok_s - a.output_throughput_tok_s) / a.output_throughput_tok_s < 0.1
            assert sorted({r.vu for r in recs if not r.warmup}) == list(range(8))


def test_adaptive_window_is_decided_by_the_coordinator_for_every_worker(tmp_path):
    with scripted_server(ttft_ms=TTFT, itl_ms=ITL) as url:
        cfg = cfg_for(url, concurrency=[6], min_duration_s=1.5, max_duration_s=20, target_half_width=0.2, workers=2)
        study, (s,) = api.run(cfg, tmp_path, name="adaptive")
    meta = storage.read_meta(study / s.run_id)
    length = (meta.window_end_ns - meta.window_start_ns) / 1e9
    assert "imprecise" not in meta.flags and meta.status == "complete"
    assert 1.5 <= length < 8, length  # stopped once tight, far before max_duration_s
    recs = [r for r in storage.read_records(study / s.run_id) if not r.warmup]
    last_sent = {w: max(r.sent_ns for r in recs if r.worker == w) for w in (0, 1)}
    # every worker stopped starting requests at the coordinator's instant, not at its own max
    assert all(t <= meta.window_end_ns + 1_000_000 for t in last_sent.values()), (last_sent, meta.window_end_ns)


class KillWorker:
    """A reporter that SIGKILLs one load worker process after it has streamed some records."""

    def __init__(self, after: int = 15) -> None:
        self.after, self.seen, self.victim, self.streamed = after, 0, None, 0

    def cell_started(self, *a) -> None: ...
    def cell_finished(self, s) -> None: ...
    def cell_skipped(self, s) -> None: ...

    def request_done(self, rec) -> None:
        self.seen += 1
        if self.victim is None and self.seen >= self.after:
            kids = [p for p in psutil.Process().children() if "spawn_main" in " ".join(p.cmdline())]
            self.victim = min(kids, key=lambda p: p.create_time())
            os.kill(self.victim.pid, signal.SIGKILL)
            self.streamed, self.at_ns = self.seen, time.monotonic_ns()


def test_a_dead_worker_fails_the_cell_and_keeps_what_it_streamed(tmp_path):
    killer = KillWorker()
    with scripted_server(ttft_ms=TTFT, itl_ms=ITL) as url:
        study, (s,) = api.run(cfg_for(url, concurrency=[8], duration_s=6, workers=2), tmp_path, name="dead",
                              reporter=killer)
    meta = storage.read_meta(study / s.run_id)
    recs = storage.read_records(study / s.run_id)
    assert killer.victim is not None and meta.status == "failed" and "load worker" in (meta.note or ""), meta.note
    assert len(recs) >= killer.streamed and {r.worker for r in recs} == {0, 1}
    # the survivor was stopped at once (its requests in flight drain), not left to run out the 6 s window
    assert max(r.sent_ns for r in recs) < killer.at_ns + 500_000_000
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in psutil.Process().children()
                   if "spawn_main" in " ".join(p.cmdline()))
