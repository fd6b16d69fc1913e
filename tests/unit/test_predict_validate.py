"""deploybench.predict on the 2023 Llama 2 SageMaker data: hold-out validation, capacity, CLI.

Figures are computed from the raw seed files here (import-seed -> fit -> predict); nothing is a
stored prediction. The MAPE and picks guards sit a little above the level reached when they were
written (docs/predict.md has the table), so a regression fails and a missed goal does not.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from deploybench.cli import main
from deploybench.metrics.slo import parse
from deploybench.predict import capacity as cap
from deploybench.predict.cells import load_cells
from deploybench.predict.features import SEED_WORKLOAD
from deploybench.predict.fit import fit, predict
from deploybench.predict.validate import validate
from deploybench.seed import import_seed

REPO = Path(__file__).resolve().parents[2]
SEED = Path(os.environ.get("DEPLOYBENCH_SEED_DIR") or REPO.parent / "shared" / "seed-data")
if not (SEED / "sagemaker").is_dir():
    SEED = REPO / "src" / "deploybench" / "data" / "seed-2023"
pytestmark = pytest.mark.skipif(not (SEED / "sagemaker").is_dir(), reason=f"2023 seed data not found at {SEED}")

# level reached (model holdout: ms/token 14.3 %, tok/s 14.9 %, picks 9/9; hardware holdout: 17.6 %,
# 24.5 %, 30/33; before issue 27's FP8/MoE model: 14.0 / 15.3 %, 8/9; 18.0 / 24.3 %) plus a margin
GUARD = {"model": ({"ms_per_token": 16.0, "tok_s": 17.5}, 8), "hardware": ({"ms_per_token": 20.5, "tok_s": 27.0}, 29)}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    return import_seed(SEED, tmp_path_factory.mktemp("seed"))


@pytest.fixture(scope="module")
def cells(study):
    return load_cells(study)


@pytest.fixture(scope="module")
def model(cells):
    return fit(cells)


def test_seed_workload_constants_come_from_samples():
    samples = SEED / "samples.json"
    if not samples.is_file():
        pytest.skip("samples.json not in the seed folder")
    n1 = np.array([row[1] for row in json.loads(samples.read_text())], dtype=float)
    assert SEED_WORKLOAD.input_mean == pytest.approx(n1.mean(), abs=1e-3)
    assert SEED_WORKLOAD.input_median == pytest.approx(np.median(n1))


def test_measured_figures_are_the_studys_own(cells):
    assert len(cells) == 60
    c = next(c for c in cells if c.features.run_id == "Llama-2-7b-hf_ml.g5.12xlarge_tp4__c1")
    raw = json.loads((SEED / "sagemaker" / "Llama-2-7b-hf_ml.g5.12xlarge_tp_4_vu_1.json").read_text())
    assert c.measured["ms_per_token"] == raw["Latency (ms/token) med"]
    assert c.measured["tok_s"] == raw["Thorughput (tokens/second)"]
    assert (c.features.hardware.devices, c.features.arch.layers, c.features.concurrency) == (4, 32, 1)


def test_model_holdout(cells):
    v = validate(cells, "model")
    assert [f.held_out for f in v.folds] == ["7B", "13B", "70B"] and len(v.cells) == 60
    for x in v.cells:  # the error arithmetic
        for k, e in x.error_pct.items():
            assert e == pytest.approx((x.predicted[k] / x.measured[k] - 1) * 100)
    for f in v.folds:
        errs = [abs(x.error_pct["ms_per_token"]) for x in v.cells if x.fold == f.held_out]
        assert f.mape["ms_per_token"] == pytest.approx(np.mean(errs))
    limits, picks = GUARD["model"]
    assert all(v.mape[k] <= lim for k, lim in limits.items()), v.mape
    assert v.picks_total == 9 and v.picks_same >= picks


def test_hardware_holdout(cells):
    v = validate(cells, "hardware")
    assert {f.held_out for f in v.folds} == {"ml.g5.2xlarge", "ml.g5.12xlarge", "ml.g5.48xlarge", "ml.p4d.24xlarge"}
    # pairs only where the model has cells on the held-out instance: g5.2xlarge has no 70B
    assert v.picks_total == 3 * (2 + 3 + 3 + 3)
    limits, picks = GUARD["hardware"]
    assert all(v.mape[k] <= lim for k, lim in limits.items()), v.mape
    assert v.picks_same >= picks
    p4d = [x for x in v.cells if x.fold == "ml.p4d.24xlarge"]
    assert p4d and not any(x.calibrated for x in p4d)  # a family the fit never saw


def test_capacity_plan(cells, model):
    slo = parse("p90_ttft_ms<=500,p50_tpot_ms<=40")
    rows = cap.plan([c.features for c in cells], model, slo, 50, cap.Lifecycle(hours_per_day=12))
    assert len(rows) == 15
    served = [r for r in rows if r.replicas]
    assert served and [r.usd_per_1m_tokens for r in served] == sorted(r.usd_per_1m_tokens for r in served)
    for r in served:
        assert r.replicas * r.max_rate_rps >= 50 > (r.replicas - 1) * r.max_rate_rps
        f = next(c.features for c in cells if c.features.deployment == r.deployment)
        point = cap.rate_point(f, model.params_for(f)[0], r.max_rate_rps)
        assert point.figures["ttft_ms"]["p90"] <= 500 * 1.001 and point.figures["tpot_ms"]["p50"] <= 40 * 1.001
        price = f.hardware.price_per_hour
        day = price * (r.replicas * 12 + r.replicas * r.startup_s / 3600)  # scale to zero at night
        assert r.usd_per_day == pytest.approx(day)
        assert r.usd_per_1m_tokens == pytest.approx(day / (50 * 50 * 3600 * 12) * 1e6)
    assert all(r.note == "no rate meets the SLO" for r in rows if not r.replicas)


def test_predictions_carry_uncertainty(cells, model):
    p = predict(model, cells[0].features)
    assert set(p.uncertainty) >= {"ms_per_token", "tok_s", "ttft_ms", "tpot_ms", "cost_per_1m"}
    assert all(0 < u < 1 for u in p.uncertainty.values())


def test_cli_fit_cells_capacity(study, model, capsys, tmp_path):
    model_file = model.save(tmp_path / "m.json")
    assert main(["predict", "cells", str(study), "--model", str(model_file), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 60 and all(0 < r["roofline_fraction"] <= 1 for r in rows)
    assert main(["capacity", str(study), "--target-rate", "50", "--slo", "p90_ttft_ms<=500,p50_tpot_ms<=40",
                 "--model", str(model_file), "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["rows"][0]["source"].startswith("predicted") and plan["lifecycle"]["hours_per_day"] == 24
    capsys.readouterr()
    assert main(["predict", "fit", str(study), "--out", str(tmp_path / "again.json")]) == 0
    assert "fit error" in capsys.readouterr().out and (tmp_path / "again.json").is_file()


def test_cli_bad_input_is_one_line(study, capsys, tmp_path):
    assert main(["predict", "validate", str(study), "--holdout", "engine"]) == 2
    assert main(["capacity", str(study), "--target-rate", "5", "--slo", "p90_error_rate<=0.1"]) == 2
    assert main(["predict", "fit", str(tmp_path / "nope")]) == 2
    assert main(["capacity", str(study), "--target-rate", "5", "--hours-per-day", "30"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("error: ") for line in err)
