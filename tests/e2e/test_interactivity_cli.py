"""`pareto --front interactivity` and `recommend --scenario cost --at-interactivity N` as a user runs them:
on the public GPU table (imported), on the 2023 import (no TPOT: one line), and bad input as one line."""

import json
import os
import subprocess

import pytest

from ..unit.test_interactivity import gpu_sweeps
from .test_import_cli import CLI, run_cli

VLLM = "DeepSeek-R1_H200-SXM-141GB_vllm_fp8_tp8"
TRT = "DeepSeek-R1_H200-SXM-141GB_tensorrt-llm_fp8_tp8"


@pytest.fixture(scope="module")
def gpu_study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gpu")
    r = run_cli("import", gpu_sweeps(tmp), "--from", "table", "--out", tmp, "--name", "gpu")
    assert r.returncode == 0, r.stderr
    return tmp / "gpu"


def test_front_and_read_off_on_the_public_gpu_table(gpu_study):
    r = run_cli("pareto", gpu_study, "--front", "interactivity", "--at-interactivity", "20", "--json")
    assert r.returncode == 0, r.stderr
    view = json.loads(r.stdout)
    offs = {o["deployment"]: o for o in view["read_offs"]}
    assert offs[VLLM]["status"] == "interpolated" and offs[VLLM]["devices"]["count"] == 8
    assert offs[TRT]["status"] == "outside" and "not extrapolated" in offs[TRT]["line"]
    text = subprocess.run([*CLI, "pareto", str(gpu_study), "--front", "interactivity", "--at-interactivity", "20"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "400"})
    assert text.returncode == 0 and "tok/s/GPU" in text.stdout
    assert sum(TRT in ln and "outside its measured range" in ln for ln in text.stdout.splitlines()) == 1


def test_recommend_at_a_speed_needs_a_price_and_says_so(gpu_study):
    r = run_cli("recommend", gpu_study, "--scenario", "cost", "--at-interactivity", "20", "--json")
    assert r.returncode == 0, r.stderr
    [ds] = [p for p in json.loads(r.stdout) if p["group"] == "DeepSeek-R1"]
    assert ds["pick"] is None and any("no price" in line for line in ds["refused"])


def test_the_2023_import_says_it_has_no_tpot(tmp_path):
    assert run_cli("import-seed", "--out", tmp_path).returncode == 0
    r = run_cli("pareto", tmp_path / "llama2-sagemaker-2023", "--front", "interactivity")
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    assert lines[0].startswith("no interactivity front: none of 15 deployments (60 cells)") and "no TPOT" in r.stdout


@pytest.mark.parametrize("args, words", [
    (["pareto", "{d}", "--front", "speed"], "--front: unknown front 'speed'"),
    (["pareto", "{d}", "--at-interactivity", "20"], "--at-interactivity needs --front interactivity"),
    (["pareto", "{d}", "--front", "interactivity", "--at-interactivity", "-3"], "--at-interactivity: -3.0 is not a speed"),
    (["recommend", "{d}", "--scenario", "latency", "--at-interactivity", "20"], "works with --scenario cost"),
])
def test_bad_input_is_one_line(gpu_study, args, words):
    r = run_cli(*[a.format(d=gpu_study) for a in args])
    assert r.returncode != 0 and words in r.stderr and "Traceback" not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1, r.stderr
