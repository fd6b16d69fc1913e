"""Two deployments 15 % apart on a host that drifts (the scripted server's --drift): one measurement each
depends on the host's phase and flips; interleaved rounds with paired picks give the same pick twice."""

from __future__ import annotations

import time

import pytest

from deploybench import api
from deploybench.testing.servers import scripted_server, stats

pytestmark = pytest.mark.slow

DRIFT = "1.0:6s,0.6:4s"  # the host runs at full speed for 6 s, then 1.67x slower for 4 s, repeating
PERIOD_S = 10.0


def _study(name: str, url: str, rounds: int, duration_s: float) -> object:
    dep = lambda n, model: {"name": n, "engine": {"kind": "external", "url": url, "model": model},  # noqa: E731
                            "hardware": {"name": "h", "price_per_hour": 1.0}, "labels": {"model": "m"}}
    return api.validate_study({
        "name": name,
        # "slow" answers every request 15 % slower than "fast" (the server's scale-<f> model), on the same host
        "deployments": [dep("slow", "scale-1.15"), dep("fast", "scripted")],
        "workload": {"source": {"kind": "synthetic", "input_tokens": 16, "prompts": 2000}, "max_tokens": 16},
        "load": {"concurrency": [2], "duration_s": duration_s, "rounds": rounds, "warmup_requests": 0,
                 "scrape_interval_s": 0, "pin_client": False, "contention_retries": 0},
    }, name)


def _wait_for_phase(url: str, phase_s: float) -> None:
    """Sleep until the drift schedule is ``phase_s`` into its period."""
    t0 = stats(url)["drift_t0_ns"]
    now = (time.monotonic_ns() - t0) / 1e9 % PERIOD_S
    time.sleep((phase_s - now) % PERIOD_S)


def _pick(study, out):
    study_dir, _, failures = api.run_study(study, out, fresh=True)
    assert not failures, failures
    (pick,) = api.recommend_picks(study_dir, "throughput")
    return pick


def test_one_measurement_each_flips_with_the_hosts_phase(tmp_path):
    """Slow is measured first, fast right after (5 s each): started as the fast phase begins, slow gets the
    fast host and fast mostly the slow one; started 5 s later, the other way round. Each run's own
    intervals are tight, so each claims a clear winner: a different one."""
    with scripted_server(ttft_ms=20, itl_ms=6, drift=DRIFT, spin_ms=0) as url:
        picks = []
        for i, phase in enumerate((0.0, 5.0)):
            _wait_for_phase(url, phase)
            picks.append(_pick(_study(f"once{i}", url, rounds=1, duration_s=5.0), tmp_path))
    print([(p.deployment, p.value, p.tie, p.note) for p in picks])
    assert {p.deployment for p in picks} == {"slow", "fast"}, [p.deployment for p in picks]
    assert any(p.deployment == "slow" and not p.tie for p in picks)  # the worse one, claimed clear


def test_interleaved_rounds_with_paired_picks_agree_twice(tmp_path):
    with scripted_server(ttft_ms=20, itl_ms=6, drift=DRIFT, spin_ms=0) as url:
        picks = []
        for i, phase in enumerate((0.0, 5.0)):  # the same two starting phases as above
            _wait_for_phase(url, phase)
            picks.append(_pick(_study(f"rounds{i}", url, rounds=14, duration_s=0.4), tmp_path))
    print([(p.deployment, p.value, p.tie, p.margin_text) for p in picks])
    assert [p.deployment for p in picks] == ["fast", "fast"]
    assert not all(p.tie for p in picks), [p.note for p in picks]  # and the paired test can tell them apart
