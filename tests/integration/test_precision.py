"""Answers that hold on a rerun: intervals, adaptive windows, compare against noise, lag and contention flags."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from deploybench import api
from deploybench.report import compare
from deploybench.schemas import Deployment, LoadConfig, RunConfig, SyntheticWorkload, Workload
from deploybench.engines import ExternalEngine, LlamaCppEngine
from deploybench.testing.servers import scripted_server

pytestmark = pytest.mark.slow


def _cfg(url: str, levels, **load) -> RunConfig:
    load = {"warmup_requests": 2, "request_timeout_s": 10, **load}
    return RunConfig(deployment=Deployment(name="scripted", engine=ExternalEngine(url=url)),
                     workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=2000), max_tokens=10),
                     load=LoadConfig(rounds=1, concurrency=levels, **load))


def _run(tmp_path, name, ttft_ms, seed, **load):
    with scripted_server(ttft_ms=ttft_ms, itl_ms=5, noise=0.1, seed=seed) as url:
        study, summaries = api.run(_cfg(url, [1, 4], duration_s=3, **load), tmp_path, name=name)
    return study, summaries


def test_same_config_twice_is_within_noise_and_20pct_ttft_is_not(tmp_path):
    a, _ = _run(tmp_path, "a", 50, seed=1)
    b, _ = _run(tmp_path, "b", 50, seed=2)
    slow, _ = _run(tmp_path, "slow", 60, seed=3)
    same = compare(a, b)
    judged = [ch for cell in same.cells for ch in cell.changes if ch.beyond_noise is not None]
    assert len(judged) >= 16
    beyond = [f"{cell.key} {ch.metric}" for cell in same.cells for ch in cell.changes if ch.beyond_noise]
    assert len(beyond) <= 0.05 * len(judged), beyond
    assert all("one round" in cell.method for cell in same.cells)  # says run-to-run noise was not measured
    worse = compare(a, slow)
    for cell in worse.cells:
        ttft = next(ch for ch in cell.changes if ch.metric == "ttft_p50_ms")
        assert ttft.beyond_noise and ttft.verdict == "worse", (cell.key, ttft)


def test_noisy_server_widens_the_interval_and_runs_to_its_cap(tmp_path):
    with scripted_server(ttft_ms=40, itl_ms=4, noise=1.0, seed=5) as url:
        study, (noisy,) = api.run(_cfg(url, [2], min_duration_s=1, max_duration_s=3, target_half_width=0.15),
                                  tmp_path, name="noisy")
    with scripted_server(ttft_ms=40, itl_ms=4) as url:
        _, (quiet,) = api.run(_cfg(url, [2], min_duration_s=1, max_duration_s=3, target_half_width=0.15),
                              tmp_path, name="quiet")
    # ran to its 3 s cap: its window ends at the last completion inside it, at most one request earlier
    assert "imprecise" in noisy.flags and noisy.window_s >= 3.0 - noisy.e2e_ms.max / 1000
    rel = lambda s: (s.intervals["ttft_ms.p50"].hi - s.intervals["ttft_ms.p50"].lo) / s.ttft_ms.p50  # noqa: E731
    assert rel(noisy) > 3 * rel(quiet)
    assert "imprecise" not in quiet.flags and quiet.window_s < 2.5


class _Starving:
    """A progress listener that blocks the event loop: the client falls behind its schedule."""

    def cell_started(self, *a) -> None: ...
    def cell_finished(self, s) -> None: ...
    def cell_skipped(self, s) -> None: ...

    def request_done(self, rec) -> None:
        time.sleep(0.06)


def test_starved_client_is_flagged_and_an_idle_one_is_not(tmp_path):
    with scripted_server(ttft_ms=200, itl_ms=5) as url:
        _, (idle,) = api.run(_cfg(url, [4], requests=24), tmp_path, name="idle")
        _, (starved,) = api.run(_cfg(url, [4], requests=24), tmp_path, name="starved", reporter=_Starving())
    assert "client-lag" not in idle.flags, idle.schedule_lag_ms
    assert "client-lag" in starved.flags and starved.schedule_lag_ms.p99 > 10


@pytest.mark.required
@pytest.mark.usefixtures("have_llama")
def test_real_llama_server_level_stops_once_its_interval_is_tight(tmp_path):
    cfg = RunConfig(deployment=Deployment(name="smol", engine=LlamaCppEngine(threads=1, parallel=2, ctx_size=1024,
                                                                             cpu_set=[0])),
                    workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=400), max_tokens=8),
                    load=LoadConfig(rounds=1, concurrency=[1], min_duration_s=2, max_duration_s=40, target_half_width=0.15,
                                    warmup_requests=1, contention_retries=0))
    _, (s,) = api.run(cfg, tmp_path, name="adaptive")
    assert "imprecise" not in s.flags and s.window_s < 39, (s.window_s, s.intervals)
    # the host speed probe sampled the cell (a server on this host); its first cell is its own reference
    assert s.contention["probe_samples"] >= 8 and 0.7 < s.contention["host_slowdown"] < 1.3, s.contention
    for key, point in (("output_throughput_tok_s", s.output_throughput_tok_s), ("ttft_ms.p50", s.ttft_ms.p50),
                       ("ms_per_token.p50", s.ms_per_token.p50)):
        iv = s.intervals[key]
        # at the stop, give or take the drain: the level stops with about 10 blocks, where one more request
        # (the one in flight at the stop) moves a bootstrap bound a lot (measured: TTFT p50 +-24.5 % once in
        # 3 runs on this shared host, judged +-15 % at the stop); that it stopped early is checked above
        assert (iv.hi - iv.lo) / 2 / point <= 0.15 * 2, (key, iv, point)


HOG = "import time\nend = time.monotonic() + float(__import__('sys').argv[1])\nwhile time.monotonic() < end: pass\n"


@pytest.mark.required
@pytest.mark.usefixtures("have_llama")
@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs a spare core for the client")
def test_cpu_hog_on_the_server_core_flags_the_cell_and_measures_it_again(tmp_path):
    cfg = RunConfig(deployment=Deployment(name="smol", engine=LlamaCppEngine(threads=1, parallel=1, ctx_size=1024,
                                                                             cpu_set=[0])),
                    workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=400), max_tokens=8),
                    load=LoadConfig(rounds=1, concurrency=[1], duration_s=2, warmup_requests=1, contention_retries=1))
    hog = subprocess.Popen(["taskset", "-c", "0", sys.executable, "-c", HOG, "40"])
    try:
        study, (s,) = api.run(cfg, tmp_path, name="hog")
    finally:
        hog.kill()
        hog.wait()
    set_aside = sorted(p.name for p in study.iterdir() if ".contended-" in p.name)
    assert len(set_aside) == 1, set_aside  # measured again once (contention_retries=1)
    assert "contended" in s.flags and s.contention["foreign_share"] > 0.10, s.contention
    print("contention:", s.contention, "set aside:", set_aside)
