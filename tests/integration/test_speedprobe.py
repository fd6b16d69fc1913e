"""The host speed probe: a slow neighbour outside the machine widens intervals and flags a cell."""

import os
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from deploybench.metrics.intervals import host_allowance
from deploybench.schemas import Interval
from deploybench.sweep import contention, speedprobe


def _series(quiet_us: float, slow_us: float, n_quiet: int, n_slow: int) -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(n_quiet + n_slow) * 250_000_000
    cpu = np.r_[rng.normal(quiet_us, quiet_us * 0.02, n_quiet), rng.normal(slow_us, slow_us * 0.02, n_slow)] * 1e3
    return np.c_[t, cpu]


def test_slowdown_is_the_window_mean_over_the_typical_time():
    s = _series(500, 700, 60, 20)  # 15 s at the usual speed, then 5 s at 1.4x
    usual = speedprobe.slowdown(s, 0, int(s[59, 0]))
    before = [(0, int(s[59, 0]))]  # the cells measured before
    slow = speedprobe.slowdown(s, int(s[60, 0]), int(s[-1, 0]), before)
    assert usual is not None and slow is not None
    assert 0.97 < usual[0] < 1.03 and usual[1] == pytest.approx(500e3, rel=0.03)
    assert 1.33 < slow[0] < 1.47 and slow[2] == 20
    fast = speedprobe.slowdown(_series(700, 500, 60, 20), int(s[60, 0]), int(s[-1, 0]), before)
    assert 0.67 < fast[0] < 0.75  # a cell measured while the host ran faster than usual
    assert speedprobe.slowdown(s, int(s[60, 0]), int(s[64, 0]), before) is None  # 5 samples: too few to say
    idle_fast = _series(300, 500, 40, 40)  # between cells the idle host runs the probe faster: not the reference
    cell = speedprobe.slowdown(idle_fast, int(idle_fast[60, 0]), int(idle_fast[-1, 0]),
                               earlier=[(int(idle_fast[40, 0]), int(idle_fast[59, 0]))])
    assert 0.97 < cell[0] < 1.03


def test_a_slow_host_flags_the_cell_only_past_the_limit():
    assert "1.40x slower" in contention.contended({"host_slowdown": 1.4, "foreign_share": 0.0}, 0.1, 0.05, 1.3)
    assert contention.contended({"host_slowdown": 1.2, "foreign_share": 0.0}, 0.1, 0.05, 1.3) is None
    assert contention.contended({"host_slowdown": 1.6}, 0.1, 0.05, None) is None  # rule off


def test_allowance_widens_towards_the_typical_host_only():
    ivs = {"output_throughput_tok_s": Interval(lo=90, hi=110, n=40, method="m"),
           "ttft_ms.p50": Interval(lo=20, hi=30, n=40, method="m"),
           "cost_per_1m_tokens": Interval(lo=1.0, hi=1.2, n=40, method="m")}
    w = host_allowance(ivs, 1.25)  # slower than usual: the usual host gives more tok/s, less latency and cost
    assert (w["output_throughput_tok_s"].lo, w["output_throughput_tok_s"].hi) == (90, pytest.approx(137.5))
    assert (w["ttft_ms.p50"].lo, w["ttft_ms.p50"].hi) == (pytest.approx(16), 30)
    assert (w["cost_per_1m_tokens"].lo, w["cost_per_1m_tokens"].hi) == (pytest.approx(0.8), 1.2)
    assert "host 1.25x its typical time" in w["ttft_ms.p50"].method
    f = host_allowance(ivs, 0.8)  # faster than usual: the other way
    assert (f["output_throughput_tok_s"].lo, f["output_throughput_tok_s"].hi) == (pytest.approx(72), 110)
    assert (f["ttft_ms.p50"].lo, f["ttft_ms.p50"].hi) == (20, pytest.approx(37.5))
    assert host_allowance(ivs, 1.0) == ivs and host_allowance(ivs, None) == ivs


def test_probe_samples_and_stops():
    with speedprobe.SpeedProbe(interval_s=0.05) as probe:
        deadline = time.monotonic() + 20
        while len(probe.samples()) < 10 and time.monotonic() < deadline:
            time.sleep(0.1)
        pid = probe.proc.pid
        s = probe.samples()
    assert len(s) >= 10 and (s[:, 1] > 0).all() and (np.diff(s[:, 0]) > 0).all()
    assert abs(s[-1, 0] - time.monotonic_ns()) < 30e9  # the child's clock is this process's monotonic clock
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_probe_child_goes_when_its_parent_is_killed():
    code = ("import sys, time; from deploybench.sweep import speedprobe; p = speedprobe.shared(); "
            "print(p.proc.pid, flush=True); time.sleep(60)")
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        assert psutil.pid_exists(child)
        os.kill(parent.pid, 9)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and psutil.pid_exists(child) and \
                psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
            time.sleep(0.1)
        assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    finally:
        if parent.poll() is None:
            parent.kill()
