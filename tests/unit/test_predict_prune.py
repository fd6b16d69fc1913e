"""Pruning decisions (hand-computed cases), run-time features, and the roofline share in reports."""

from __future__ import annotations

import pytest

from deploybench.predict import model as m
from deploybench.predict.deployed import features_or_why
from deploybench.predict.features import LLAMA2, CellFeatures, HardwareFeatures, Workload
from deploybench.predict.prune import calibration_cells, can_matter, nearest_level, scenario_cells, within
from deploybench.report.roofline import cell_roofline
from deploybench.schemas import Deployment, Dist, RunMeta, RunSummary, Workload as RunWorkload

HW = HardwareFeatures(name="cpu", family="cpu", devices=1, memory_gib=8, bandwidth_gbs=10, peak_tflops={"fp16": 1})


def _f(model: str, dep: str, n: int) -> CellFeatures:
    return CellFeatures(run_id=f"{dep}__c{n}", deployment=dep, model=model, arch=LLAMA2["7B"], quantization="q4_0",
                        bits=4.5, hardware=HW, engine="llamacpp", concurrency=n,
                        workload=Workload(input_mean=10, input_median=10, output_tokens=10), level=f"c{n}")


GRID = [_f(model, f"{model}-{q}", n) for model in ("a", "b") for q in ("fast", "slow") for n in (1, 4)]


def test_scenarios_judge_the_rules_nearest_levels():
    assert nearest_level({1, 4}, 5) == 4 and nearest_level({1, 4}, 20) == 4 and nearest_level({2, 8}, 5) == 2
    cells = scenario_cells(GRID)
    assert cells[("a", "latency")] == ["a-fast__c1", "a-slow__c1"]
    assert cells[("a", "cost")] == cells[("a", "throughput")] == ["a-fast__c4", "a-slow__c4"]


def test_within_margin_both_directions():
    assert within(1.25, 1.0, True, 0.25) and not within(1.26, 1.0, True, 0.25)
    assert within(80.0, 100.0, False, 0.25) and not within(79.9, 100.0, False, 0.25)  # 100 / 1.25 = 80


def test_can_matter_keeps_cells_near_the_best_of_some_scenario():
    v = {}
    for f in GRID:
        slow = "slow" in f.deployment
        v[f.run_id] = {"ms_per_token": 10.0 * (1.2 if slow else 1.0), "tok_s": 100.0 / (2.0 if slow else 1.0),
                       "cost_per_1m": 1.0 * (2.0 if slow else 1.0)}
    got = can_matter(GRID, v, 0.25)
    assert got["a-slow__c1"] == ["a/latency"]  # 12 ms <= 10 x 1.25
    assert "a-slow__c4" not in got  # cost 2x and half the tok/s at c4: can win nothing
    assert got["a-fast__c4"] == ["a/cost", "a/throughput"]
    assert "b-slow__c4" not in can_matter(GRID, v, 0.5) and "b-slow__c4" in can_matter(GRID, v, 1.0)
    del v["a-fast__c4"]["cost_per_1m"]  # no price: does not compete on cost; the other one is then the best
    assert "a/cost" in can_matter(GRID, v, 0.0)["a-slow__c4"]


def test_calibration_spreads_over_the_predicted_range():
    ms = {"a-fast__c1": 5.0, "a-slow__c1": 50.0, "b-fast__c1": 8.0, "b-slow__c1": 20.0}
    assert calibration_cells(GRID, ms, 2) == ["a-fast__c1", "a-slow__c1"]  # fastest and slowest, lowest level
    assert calibration_cells(GRID, ms, 3) == ["a-fast__c1", "b-slow__c1", "a-slow__c1"]  # 5, 20, 50 ms/token
    assert calibration_cells(GRID, ms, 0) == [] and len(calibration_cells(GRID, ms, 9)) == 4


def test_features_never_fail_a_run(tmp_path):
    dep = Deployment(name="x", labels={"model": "mystery", "quantization": "none"})
    f, why = features_or_why(dep, 2, RunWorkload(max_tokens=20), None, tmp_path / "missing.gguf", "c2", "x__c2")
    assert f is None and why.startswith("no features:") and "architecture" in why
    dep = dep.model_copy(update={"labels": {"model": "Llama-2-7b", "quantization": "nonsense"}})
    f, why = features_or_why(dep, 2, RunWorkload(max_tokens=20), None, None, "c2", "x__c2")
    assert f is None and "bits per weight" in why


def test_roofline_share_from_stored_features():
    f = _f("a", "a-fast", 1).model_copy(update={"workload": Workload(input_mean=100, input_median=100,
                                                                      output_tokens=50)})
    # memory-bound bound at batch 1: weights (matrices at 4.5 bits + fp16 head) + KV of 125 tokens, 10 GB/s
    a = LLAMA2["7B"]
    nbytes = a.matrix_params * 4.5 / 8 + a.vocab * a.hidden * 2 + 125 * a.kv_bytes_per_token()
    bound_ms = 1e3 * nbytes / 10e9
    assert m.roofline_decode(f, 1) == (pytest.approx(bound_ms), "memory-bandwidth")
    meta = RunMeta(run_id=f.run_id, concurrency=1, labels={"model": "a", "hardware": "cpu"},
                   features=f.model_dump(mode="json"))
    d = Dist(n=4, p50=3 * bound_ms)
    s = RunSummary(run_id=f.run_id, deployment="a-fast", concurrency=1, requests=4, completed=4, errors=0,
                   error_rate=0.0, window_s=1.0, output_tokens=200, input_tokens=400, output_throughput_tok_s=50.0,
                   request_throughput_rps=1.0, ttft_ms=d, tpot_ms=Dist(n=4, p50=2 * bound_ms), itl_ms=d, e2e_ms=d,
                   ms_per_token=d, schedule_lag_ms=Dist())
    rf = cell_roofline(meta, s)
    assert rf.fraction == pytest.approx(0.5) and rf.cpu  # a CPU host: the peak is numpy's, and the text says so
    assert rf.text == "reaches 50 % of its memory-bandwidth limit (numpy's copy bandwidth)" and rf.label == "50 %"
    fast = cell_roofline(meta, s.model_copy(update={"tpot_ms": Dist(n=4, p50=bound_ms / 1.2)}))
    assert fast.fraction == pytest.approx(1.2) and fast.label == "≥ numpy's copy bandwidth" and fast.share is None
    assert cell_roofline(meta.model_copy(update={"features": None}), s) is None  # never guessed from this host
