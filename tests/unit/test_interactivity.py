"""The interactivity front (docs/metrics.md, "The interactivity front"): curves on hand-made studies whose
read-offs are computed by hand, refusals outside the measured range, device counts, the 2023 import (no
TPOT) and the public GPU table."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import deploybench
from deploybench.recommend import Devices, cheapest_at, interactivity_front
from deploybench.recommend.interactivity import read_off
from deploybench.schemas import ConfigError, Dist, Interval, RunSummary

from .test_report import make_store

REPO = Path(__file__).resolve().parents[2]
PUBLIC_GPU = REPO / "tests" / "data" / "public-gpu" / "dstack-gpu-results.csv"


def cell(dep: str, c: int, tpot_ms: float, tok_s: float, price: float | None = 3.6, model: str = "7B",
         tpot_iv: tuple[float, float] | None = None, tok_iv: tuple[float, float] | None = None) -> RunSummary:
    intervals = {}
    if tpot_iv:
        intervals["tpot_ms.p50"] = Interval(lo=tpot_iv[0], hi=tpot_iv[1], n=4)
    if tok_iv:
        intervals["output_throughput_tok_s"] = Interval(lo=tok_iv[0], hi=tok_iv[1], n=4)
    return RunSummary(run_id=f"{dep}__c{c}", deployment=dep, concurrency=c, requests=100, completed=100, errors=0,
                      error_rate=0.0, window_s=10.0, output_tokens=int(tok_s * 10), output_throughput_tok_s=tok_s,
                      request_throughput_rps=1.0, ttft_ms=Dist(), tpot_ms=Dist(n=100, p50=tpot_ms), itl_ms=Dist(),
                      e2e_ms=Dist(), ms_per_token=Dist(), schedule_lag_ms=Dist(), price_per_hour=price,
                      labels={"model": model}, level=f"c{c}", intervals=intervals)


# A: 2 GPUs, tokens/s per user 100, 80, 50, 25 (TPOT 10, 12.5, 20, 40 ms); total tokens/s = 4 x (120 - x):
# a straight line, which monotone cubic (PCHIP) interpolation reproduces exactly.
A_X = (100.0, 80.0, 50.0, 25.0)


def line_study(intervals: bool = False) -> list[RunSummary]:
    out = []
    for c, x in zip((1, 2, 4, 8), A_X):
        y = 4 * (120 - x)
        iv = dict(tpot_iv=(1000 / (x + 2), 1000 / (x - 2)), tok_iv=(y - 8, y + 8)) if intervals else {}
        out.append(cell("A", c, 1000 / x, y, **iv))
    return out


DEV = {f"A__c{c}": Devices(count=2, unit="GPU", source="test") for c in (1, 2, 4, 8)}


def test_read_off_on_a_straight_curve_matches_the_hand_computed_line():
    view = interactivity_front(line_study(), DEV, target=60)
    r = view.read_offs[0]
    # x = 60 lies between c4 (50) and c2 (80); total = 4 x (120 - 60) = 240 tok/s on 2 GPUs = 120 tok/s/GPU;
    # $ per 1M = 3.6 $/h x 1e6 / (240 tok/s x 3600 s/h) = 4.1667
    assert r.status == "interpolated" and r.between == ["c4", "c2"]
    assert r.tok_s_device == pytest.approx(120.0)
    assert r.cost_per_1m == pytest.approx(3.6 * 1e6 / (240 * 3600))
    assert r.tok_s_device_lo is None and "[no interval]" in r.line and "interpolated between c4 and c2" in r.line


def test_read_off_at_a_measured_level_is_that_level_marked_measured():
    r = interactivity_front(line_study(), DEV, target=80).read_offs[0]
    assert r.status == "measured" and r.between == ["c2"] and r.tok_s_device == pytest.approx(4 * 40 / 2)


def test_intervals_are_carried_through_the_four_corner_curves():
    # every point's speed is known to +-2 tok/s/user and its throughput to +-8 tok/s: the corner curves are the
    # line shifted by (-2 | +2) in x and (-8 | +8) in y; at x = 60: 4 x (118 - 60) - 8 = 224 (slow, low) up to
    # 4 x (122 - 60) + 8 = 256 (fast, high) tok/s in all, / 2 GPUs
    r = interactivity_front(line_study(intervals=True), DEV, target=60).read_offs[0]
    assert r.tok_s_device == pytest.approx(120.0)
    assert (r.tok_s_device_lo, r.tok_s_device_hi) == (pytest.approx(112.0), pytest.approx(128.0))
    assert r.cost_per_1m_lo == pytest.approx(3.6e6 / (256 * 3600))  # more tokens/s: cheaper
    assert r.cost_per_1m_hi == pytest.approx(3.6e6 / (224 * 3600))
    assert "[95%: 112–128]" in r.line


def test_a_curved_read_off_matches_the_hand_computed_monotone_cubic():
    # three levels at x = 1, 2, 4 tok/s/user with 10, 6, 5 tok/s (1 device). Fritsch-Carlson slopes by hand:
    # secants -4 (on [1,2]) and -0.5 (on [2,4]); at x=2 the weighted harmonic mean (w1 = 2*2+1 = 5, w2 = 2+2*1 = 4):
    # 9 / (5/-4 + 4/-0.5) = -0.972973; at x=1 the end formula ((2*1+2)*-4 - 1*-0.5) / 3 = -5.166667.
    # Hermite on [1,2] at t = 0.5: 0.5*10 + 0.125*(-5.166667) + 0.5*6 - 0.125*(-0.972973) = 7.475788
    cells = [cell("B", c, 1000 / x, y, price=None) for c, x, y in ((4, 1.0, 10.0), (2, 2.0, 6.0), (1, 4.0, 5.0))]
    dev = {s.run_id: Devices(count=1, unit="GPU") for s in cells}
    r = interactivity_front(cells, dev, target=1.5).read_offs[0]
    assert r.tok_s_device == pytest.approx(7.475788, abs=1e-6)
    assert r.cost_per_1m is None and "$/1M: no price" in r.line
    # monotone: no overshoot between levels anywhere
    ys = [interactivity_front(cells, dev, target=t).read_offs[0].tok_s_device for t in (1.1, 1.9, 2.1, 3.9)]
    assert ys == sorted(ys, reverse=True) and all(5.0 <= y <= 10.0 for y in ys)


@pytest.mark.parametrize("target, side", [(101.0, "faster"), (24.0, "slower")])
def test_a_target_outside_every_curve_is_refused_per_deployment_in_one_line(target, side):
    cells = line_study() + [cell("C", c, 1000 / x, 100.0 / c) for c, x in ((1, 90.0), (2, 30.0))]
    dev = {**DEV, "C__c1": Devices(count=1, unit="GPU"), "C__c2": Devices(count=1, unit="GPU")}
    view = interactivity_front(cells, dev, target=target)
    assert [r.status for r in view.read_offs] == ["outside", "outside"]
    for r in view.read_offs:
        assert "\n" not in r.line and f"is {side}" in r.line and "not extrapolated" in r.line
        assert r.tok_s_device is None and r.cost_per_1m is None
    picks = cheapest_at(view.curves, target, 0.02)
    assert picks[0].pick is None and len(picks[0].refused) == 2 and "outside its measured range" in picks[0].refused[0]


def test_the_cheapest_at_a_speed_and_its_runner_up():
    # C: one GPU, at x=60 total 4 x (150 - 60) = 360 tok/s for 1.8 $/h -> cheaper than A (240 tok/s, 3.6 $/h)
    c_cells = [cell("C", c, 1000 / x, 4 * (150 - x), price=1.8) for c, x in ((1, 90.0), (4, 30.0))]
    dev = {**DEV, **{s.run_id: Devices(count=1, unit="GPU") for s in c_cells}}
    view = interactivity_front(line_study() + c_cells, dev)
    [sp] = cheapest_at(view.curves, 60, 0.02)
    assert sp.pick.deployment == "C" and sp.pick.cost_per_1m == pytest.approx(1.8e6 / (360 * 3600))
    assert sp.runner_up.deployment == "A" and sp.margin == pytest.approx((3.6 / 240) / (1.8 / 360) - 1)
    assert not sp.tie and "fixed margin" in sp.tie_rule


def test_fronts_keep_only_points_nothing_beats_on_both_axes():
    # A per GPU (speed, tok/s/GPU): (100, 40) (80, 80) (50, 140) (25, 190); $ per 1M = 1000 / total tok/s:
    # 12.5, 6.25, 3.571, 2.632. D, 1 GPU at 1 $/h: (110, 30) at $9.259 and (40, 130) at $2.137.
    d = [cell("D", 1, 1000 / 110, 30.0, price=1.0), cell("D", 8, 1000 / 40, 130.0, price=1.0)]
    dev = {**DEV, **{s.run_id: Devices(count=1, unit="GPU") for s in d}}
    view = interactivity_front(line_study() + d, dev)
    tput = [(f.deployment, f.level) for f in view.fronts if f.axis == "tok_s_device"]
    # D (40, 130) is beaten by A (50, 140): faster per user and more per GPU; every other point is on the front
    assert tput == [("A", "c8"), ("A", "c4"), ("A", "c2"), ("A", "c1"), ("D", "c1")]
    cost = [(f.deployment, f.level) for f in view.fronts if f.axis == "cost_per_1m"]
    # A c1 ($12.5 at 100) is beaten by D c1 ($9.26 at 110); A c8 ($2.63 at 25) by D c8 ($2.14 at 40)
    assert cost == [("D", "c8"), ("A", "c4"), ("A", "c2"), ("D", "c1")]


def test_a_bad_target_is_one_line():
    with pytest.raises(ConfigError) as exc:
        interactivity_front(line_study(), DEV, target=0)
    assert "--at-interactivity" in exc.value.line() and "\n" not in exc.value.line()


def test_devices_from_the_catalog_and_unknown_where_nothing_says(tmp_path):
    # make_store: "small-cpu" on hardware "cpu-2" (no engine config, not a catalog name), "big-gpu" on
    # ml.g5.2xlarge (1 GPU), "big-model" on ml.g5.12xlarge (4 GPUs)
    view = deploybench.interactivity(make_store(tmp_path / "s", levels=(1, 5, 20), n=20), at=None)
    devs = {c.deployment: c.devices for c in view.curves}
    assert (devs["big-gpu"].count, devs["big-gpu"].unit) == (1, "GPU")
    assert (devs["big-model"].count, devs["big-model"].unit) == (4, "GPU") and "catalog" in devs["big-model"].source
    assert devs["small-cpu"].count is None and "gpus: N" in devs["small-cpu"].source
    small = next(c for c in view.curves if c.deployment == "small-cpu")
    assert small.points and all(p.tok_s_device is None and p.cost_per_1m is not None for p in small.points)


def test_the_2023_import_has_no_tpot_and_says_so(tmp_path):
    study = deploybench.import_seed(out=tmp_path)
    view = deploybench.interactivity(study, at=30)
    assert view.why_no_front and "no TPOT" in view.why_no_front and "time_per_token" in view.why_no_front
    assert all(r.status == "no-curve" for r in view.read_offs)
    picks = deploybench.recommend_at_interactivity(study, 30)
    assert {p.group for p in picks} == {"7B", "13B", "70B"}
    assert all(p.pick is None and "no TPOT" in p.note and not p.refused for p in picks)


def gpu_sweeps(tmp_path: Path) -> Path:
    """The public GPU table's load sweeps (its 3200/1600, 3200 and 6400-token rows are other workloads at c128:
    a deployment's curve is one workload over its load levels)."""
    rows = list(csv.DictReader(PUBLIC_GPU.open()))
    keep = [r for r in rows if not (r["model"] == "deepseek-ai/DeepSeek-R1" and r["output_tokens"] != "800")]
    path = tmp_path / "gpu-sweeps.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(keep)
    return path


def test_the_public_gpu_table_gives_tokens_per_gpu_at_a_speed(tmp_path):
    from scipy.interpolate import PchipInterpolator

    study, _ = deploybench.import_results([gpu_sweeps(tmp_path)], "table", out=tmp_path, name="gpu")
    view = deploybench.interactivity(study, at=20)
    offs = {r.deployment: r for r in view.read_offs}
    rows = [r for r in csv.DictReader(PUBLIC_GPU.open()) if r["hardware"] == "H200-SXM-141GB"
            and r["engine"] == "vllm" and r["output_tokens"] == "800"]
    pts = sorted((1000 / float(r["tpot_p50_ms"]), float(r["output_tok_s"]) / int(r["gpus"])) for r in rows)
    want = float(PchipInterpolator([x for x, _ in pts], [y for _, y in pts])(20.0))
    vllm = offs["DeepSeek-R1_H200-SXM-141GB_vllm_fp8_tp8"]
    assert vllm.status == "interpolated" and vllm.devices.count == 8 and vllm.tok_s_device == pytest.approx(want)
    assert vllm.between == ["c32", "c16"] and "$/1M: no price" in vllm.line  # the studies publish no prices
    trt = offs["DeepSeek-R1_H200-SXM-141GB_tensorrt-llm_fp8_tp8"]  # fastest level: 1000 / 55.115 = 18.14 tok/s/user
    assert trt.status == "outside" and "18.14 (c4)" in trt.line
    fronts = {f.deployment for f in view.fronts if f.axis == "tok_s_device" and f.group == "DeepSeek-R1"}
    assert "DeepSeek-R1_H200-SXM-141GB_vllm_fp8_tp8" in fronts


def test_read_off_of_a_curve_without_points_says_why():
    s = cell("E", 1, 10.0, 50.0)
    s.tpot_ms = Dist()
    s.missing = ["tpot_ms"]
    s.labels["tool"] = "llmperf"
    view = interactivity_front([s], {}, target=5)
    assert view.read_offs[0].status == "no-curve" and "llmperf does not give it" in view.read_offs[0].line
    assert read_off(view.curves[0], 5).note.startswith("no curve")


def test_a_runner_up_inside_the_picks_interval_is_a_tie():
    # F: A's curve and intervals at 3.7 $/h instead of 3.6: at x = 60 $4.282 [4.015–4.589] vs A's $4.167 [3.906–4.464]
    f = [s.model_copy(update={"run_id": s.run_id.replace("A", "F"), "deployment": "F", "price_per_hour": 3.7})
         for s in line_study(intervals=True)]
    dev = {**DEV, **{s.run_id: Devices(count=2, unit="GPU") for s in f}}
    [sp] = cheapest_at(interactivity_front(line_study(intervals=True) + f, dev).curves, 60, 0.02)
    assert sp.pick.deployment == "A" and sp.runner_up.deployment == "F"
    assert sp.tie and sp.tied_with == ["F"] and sp.tie_rule == "95 % intervals overlap"
    assert sp.pick.cost_per_1m_hi == pytest.approx(3.6e6 / (224 * 3600))
