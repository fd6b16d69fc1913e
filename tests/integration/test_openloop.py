"""Open-loop load against the scripted server: schedule accuracy, drops, a sweep that finds the knee."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deploybench import api, storage
from deploybench.load.arrivals import inter_arrival_cv
from deploybench.schemas import Deployment, LoadConfig, RunConfig, SyntheticWorkload, Workload
from deploybench.engines import ExternalEngine
from deploybench.testing.servers import first_token_timings, scripted_server

pytestmark = pytest.mark.slow


def _cfg(url, levels, max_tokens=10, **load) -> RunConfig:
    load = {"warmup_requests": 1, "request_timeout_s": 10, "concurrency": [], "levels": levels, "rounds": 1, **load}
    return RunConfig(deployment=Deployment(name="scripted", engine=ExternalEngine(url=url)),
                     workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=3000), max_tokens=max_tokens),
                     load=LoadConfig(**load))


def _arrival_lag_ms(url, origin_ns: int, due_s: list[float]) -> np.ndarray:
    """Server-side arrival (the scripted server stamps each request's first byte read) minus the arrival
    schedule the test computed itself, per measured request in order; ms."""
    reads = sorted(read for read, _due, _written in first_token_timings(url))[-len(due_s):]
    assert len(reads) == len(due_s)
    return np.array([(read - origin_ns) / 1e6 - d * 1e3 for read, d in zip(reads, due_s)])


LAG_P50_MS, LAG_P99_MS = 2.0, 10.0
"""Arrival lag bounds on a shared 2-core host at 50 req/s (benchmarks/open_loop_lag.py measures the
client alone on a quiet host: p99 within 2 ms at 300 req/s)."""


def test_1000_requests_at_50_per_s_leave_on_schedule(tmp_path):
    with scripted_server(ttft_ms=20, itl_ms=5) as url:
        study, (s,) = api.run(_cfg(url, [{"kind": "rate", "rps": 50, "arrival": "constant"}], requests=1000),
                              tmp_path, name="sched")
        recs = [r for r in storage.read_records(study / s.run_id) if not r.warmup]
        origin = min(r.scheduled_ns for r in recs)  # the level's start: request i is due 20 ms x i later
        lag = _arrival_lag_ms(url, origin, [i / 50 for i in range(1000)])
    assert s.run_id == "scripted__r50-constant" and s.level_kind == "rate"
    assert len(recs) == 1000 and s.errors == 0
    p50, p99 = np.percentile(lag, [50, 99])
    print(f"arrival lag at the server, ms: p50 {p50:.2f}, p99 {p99:.2f}, min {lag.min():.2f}")
    assert lag.min() > -0.5  # nothing leaves early
    assert p50 <= LAG_P50_MS and p99 <= LAG_P99_MS, (p50, p99)
    assert abs(s.request_throughput_rps - 50) / 50 <= 0.01, s.request_throughput_rps
    assert abs(s.offered_rps - 50) / 50 <= 0.01 and abs(s.achieved_rps - 50) / 50 <= 0.01, (s.offered_rps, s.achieved_rps)


def test_poisson_run_stores_its_schedule_and_drops_beyond_max_in_flight(tmp_path):
    with scripted_server(ttft_ms=400, itl_ms=5) as url:
        study, (s,) = api.run(_cfg(url, [{"kind": "rate", "rps": 40, "seed": 4, "max_in_flight": 4}], duration_s=3),
                              tmp_path, name="drop")
    off = json.loads((study / s.run_id / "schedule.json").read_text())["offsets_s"]
    assert abs(inter_arrival_cv(np.array(off)) - 1.0) < 0.3
    # 40 req/s with 0.45 s per request is ~18 in flight: most arrivals beyond 4 are dropped, and stored
    assert s.dropped > 20 and s.errors >= s.dropped
    assert s.requests == len(off)  # nothing silently skipped


def test_sweep_finds_the_knee_near_capacity_and_stops_before_running_away(tmp_path):
    # 4 slots, 50 ms + 9 x 10 ms = 140 ms per request: capacity 4 / 0.14 = 28.6 req/s
    with scripted_server(ttft_ms=50, itl_ms=10, slots=4) as url:
        cfg = _cfg(url, [{"kind": "sweep", "rates": 6, "max_users": 8, "headroom": 1.6}], duration_s=4,
                   slo="p90_ttft_ms<=600")
        study, cells = api.run(cfg, tmp_path, name="sweep")
    data = json.loads((study / "scripted__sweep.json").read_text())
    capacity = 4 / 0.14
    assert abs(data["max_rps"] - capacity) / capacity < 0.1, data["max_rps"]
    rates = np.linspace(data["synchronous_rps"], 1.6 * data["max_rps"], 6)
    step = rates[1] - rates[0]
    assert data["knee"] is not None, data
    assert abs(data["knee"]["rps"] - capacity) <= step * 1.1, (data["knee"], capacity, step)
    assert data["knee"]["rps"] <= capacity * 1.05  # never a rate the server could not keep up with
    assert data["stopped_early"] and len(data["points"]) < 6, data  # it did not climb to 1.6 x capacity
    assert [c.level for c in cells][:2] == ["c1", "c8"]


def test_capacity_pick_is_the_cheapest_at_its_highest_rate_within_the_slo(tmp_path):
    """Two deployments, one faster per request but three times the price: at the rate each sustains
    within the SLO, the cheaper per 1M tokens wins (hand-computed from the known timings)."""
    from deploybench.metrics import slo as slo_mod
    from deploybench.recommend import recommend

    levels = [{"kind": "rate", "rps": r, "arrival": "constant"} for r in (3, 6, 9)]
    out = []
    for name, itl, price in (("slow", 20, 1.0), ("fast", 10, 3.0)):
        with scripted_server(ttft_ms=100, itl_ms=itl, slots=2) as url:
            # this test is about the capacity rule, not the client or the host: a busy host's lag or
            # CPU use must not skip cells (CI once lost fast's r6 and r9 to something transient)
            cfg = _cfg(url, levels, duration_s=3, lag_tolerance=0.5, contention_retries=0,
                       contention_cpu=1.0, contention_steal=1.0)
            cfg.deployment.name, cfg.deployment.hardware.price_per_hour = name, price
            cfg.deployment.labels = {"model": "m"}
            out += api.run(cfg, tmp_path, name=name)[1]
    # slow: 100 + 9 x 20 = 280 ms per request on 2 slots -> 7.1 req/s: keeps up at 6, not at 9;
    # fast: 190 ms -> 10.5 req/s: keeps up at 9. Constant arrivals below capacity never queue.
    (pick,) = recommend(out, "capacity", slo=slo_mod.parse("p90_ttft_ms<=400"))
    # per token, slow at 6 req/s for $1/h beats fast at 9 req/s for $3/h (1/6 < 3/9)
    assert pick.deployment == "slow" and pick.rate_rps == 6, pick
    why = [(s.run_id, s.flags, s.error_rate, s.offered_rps, s.achieved_rps, s.ttft_ms.p90) for s in out]
    assert pick.runner_up.deployment == "fast" and pick.runner_up.run_id == "fast__r9-constant", why


def test_trace_replay_reproduces_arrivals_and_lengths(tmp_path):
    """The BurstGPT-shaped sample: requests leave at the trace's times (x time_scale) and each asks
    for, and gets, its own output length (checked from the server's usage counts)."""
    from pathlib import Path

    from deploybench.workloads import read_trace

    trace = Path(__file__).resolve().parents[1] / "data" / "trace-burstgpt.csv"
    rows = read_trace(trace)
    with scripted_server(ttft_ms=20, itl_ms=2) as url:
        study, (s,) = api.run(_cfg(url, [{"kind": "trace", "path": str(trace), "time_scale": 0.5}],
                                  duration_s=30, warmup_requests=0), tmp_path, name="trace")
        origin = min(r.scheduled_ns for r in storage.read_records(study / s.run_id))
        first = rows[0].arrival_s  # the trace's own times, x 0.5, from its first arrival
        lag = _arrival_lag_ms(url, origin, [(row.arrival_s - first) * 0.5 for row in rows])
    print(f"trace arrival lag at the server, ms: {np.round(lag, 2)}")
    # a handful of arrivals seconds apart: each wakes an idle client and opens a new connection
    assert lag.min() > -0.5 and float(np.median(lag)) <= 10.0 and lag.max() <= 25.0, lag
    assert s.run_id == "scripted__trace-trace-burstgpt-x0.5" and s.errors == 0
    recs = sorted((r for r in storage.read_records(study / s.run_id) if not r.warmup), key=lambda r: r.index)
    assert len(recs) == len(rows)
    for r, row in zip(recs, rows):
        assert r.max_tokens == max(1, row.output_tokens) and r.output_tokens == r.max_tokens  # server usage
