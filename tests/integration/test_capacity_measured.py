"""Capacity plans take a measured rate sweep's rate where one exists (scripted server), predictions elsewhere."""

from __future__ import annotations

import json
import math

import pytest

from deploybench import api
from deploybench.engines import ExternalEngine
from deploybench.metrics import slo as slo_mod
from deploybench.predict import capacity as cap
from deploybench.predict.features import LLAMA2, CellFeatures, HardwareFeatures, Workload
from deploybench.predict.fit import FittedModel
from deploybench.schemas import Deployment, LoadConfig, RunConfig, SyntheticWorkload, Workload as RunWorkload
from deploybench.testing.servers import scripted_server

pytestmark = pytest.mark.slow

A10G = HardwareFeatures(name="ml.g5.2xlarge", family="g5", devices=1, memory_gib=24, bandwidth_gbs=600,
                        peak_tflops={"fp16": 70}, interconnect_gbs=32, price_per_hour=1.515)


def _features(deployment: str) -> CellFeatures:
    return CellFeatures(deployment=deployment, model="7B", arch=LLAMA2["7B"], quantization="none", bits=16.0,
                        hardware=A10G, engine="tgi-1.0.3", concurrency=1,
                        workload=Workload(input_mean=16, input_median=16, output_tokens=10))


def test_capacity_plan_uses_the_measured_sweep(tmp_path):
    # 4 slots, 50 ms + 9 x 10 ms = 140 ms per request: capacity ~28.6 req/s
    with scripted_server(ttft_ms=50, itl_ms=10, slots=4) as url:
        cfg = RunConfig(deployment=Deployment(name="scripted", engine=ExternalEngine(url=url)),
                        workload=RunWorkload(source=SyntheticWorkload(input_tokens=16, prompts=3000), max_tokens=10),
                        load=LoadConfig(rounds=1, warmup_requests=1, request_timeout_s=10, concurrency=[], duration_s=1.5,
                                        levels=[{"kind": "sweep", "rates": 4, "max_users": 8, "headroom": 1.4}],
                                        slo="p90_ttft_ms<=600"))
        study, _ = api.run(cfg, tmp_path, name="cap")
    knee = json.loads((study / "scripted__sweep.json").read_text())["knee"]
    assert knee is not None
    slo = slo_mod.parse("p90_ttft_ms<=600")
    rates = cap.measured_rates(study, slo)
    rate, how = rates["scripted"]
    assert rate == knee["rps"] > 0 and how.startswith("measured")  # the sweep's own knee, on its own SLO
    strict, _ = cap.measured_rates(study, slo_mod.parse("p90_ttft_ms<=52"))["scripted"]
    assert strict < rate  # judged on the plan's SLO, not the sweep's

    rows = {r.deployment: r for r in cap.plan([_features("scripted"), _features("other")], FittedModel(), slo,
                                              target_rate=100, measured=rates)}
    got, other = rows["scripted"], rows["other"]
    assert got.source.startswith("measured") and got.max_rate_rps == rate
    assert got.replicas == math.ceil(100 / rate) and got.usd_per_hour == pytest.approx(got.replicas * 1.515)
    # the other deployment keeps its own prediction: exactly the row a plan without measurements gives it
    (alone,) = cap.plan([_features("other")], FittedModel(), slo, target_rate=100)
    assert other.source.startswith("predicted") and other.max_rate_rps == pytest.approx(alone.max_rate_rps)
    assert alone.max_rate_rps != pytest.approx(rate)
