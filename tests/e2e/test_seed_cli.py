"""The analysis commands as a user runs them: import-seed, recommend, pareto, catalog."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import seed_dir

SEED = seed_dir()
pytestmark = pytest.mark.required  # the 2023 data ships in the package: these must run in CI
_SCRIPT = Path(sys.executable).parent / "deploybench"
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else ([shutil.which("deploybench")] if shutil.which("deploybench")
                                              else [sys.executable, "-m", "deploybench"])


def run_cli(*args, timeout=120):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout)


def one_line_error(p, *words):
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout
    err = p.stderr.strip()
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    if not (SEED / "sagemaker").is_dir():
        pytest.skip(f"2023 seed data not found at {SEED} (set DEPLOYBENCH_SEED_DIR)")
    out = tmp_path_factory.mktemp("runs")
    p = run_cli("import-seed", SEED, "--out", out, "--json")
    assert p.returncode == 0, p.stderr
    info = json.loads(p.stdout)
    assert info["runs"] == 60 and "imported 60 runs" in p.stderr
    return Path(info["study_dir"])


@pytest.mark.required
def test_import_seed_with_no_path_uses_the_packaged_copy(tmp_path):
    p = run_cli("import-seed", "--out", tmp_path, "--json")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["runs"] == 60 and "imported 60 runs" in p.stderr


def test_import_then_recommend_latency_json(study):
    p = run_cli("recommend", study, "--scenario", "latency", "--json")
    assert p.returncode == 0, p.stderr
    picks = json.loads(p.stdout)
    got = {x["group"]: (x["deployment"], x["concurrency"], x["ms_per_token_p50"]) for x in picks}
    assert got == {"7B": ("Llama-2-7b-hf_ml.g5.12xlarge_tp4", 1, 16.812526),
                   "13B": ("Llama-2-13b-hf_ml.g5.12xlarge_tp4", 1, 21.002715),
                   "70B": ("Llama-2-70b-hf_ml.p4d.24xlarge_tp8", 1, 41.348543)}
    for x in picks:
        assert x["rule"] == ("lowest median ms/token at concurrency 1, per model (server-side time per token: "
                             "TGI time_per_token, imported, no queue or network)")
        assert x["metric"] == "p50_server_ms_per_token" and x["ms_per_token_figure"] == "server_ms_per_token"
        assert x["runner_up"]["run_id"] and x["margin"] > 0 and x["tie"] is False


def test_recommend_study_basis_and_table(study):
    p = run_cli("recommend", study, "--scenario", "throughput", "--basis", "study", "--json")
    assert p.returncode == 0, p.stderr
    picks = {x["group"]: x for x in json.loads(p.stdout)}
    assert picks["13B"]["hardware"] == "ml.p4d.24xlarge" and picks["13B"]["tokens_per_s"] == pytest.approx(668.02, abs=0.01)
    t = run_cli("recommend", study, "--scenario", "cost")
    assert t.returncode == 0, t.stderr
    assert "rule: lowest cost per 1M output tokens at concurrency 5, per model" in t.stdout
    assert "7B: Llama-2-7b-hf_ml.g5.2xlarge_tp1; " in t.stdout and "runner-up" in t.stdout
    assert "ml.g5.2xlarge tp1" not in t.stdout  # the picks' wide table is behind --details
    d = run_cli("recommend", study, "--scenario", "cost", "--details")
    assert d.returncode == 0, d.stderr
    assert "ml.g5.2xlarge tp1" in d.stdout and d.stdout.endswith(t.stdout)


def test_recommend_with_slo(study):
    slo = "p90_server_ms_per_token<=30,p90_e2e_ms<=2000"  # the 2023 figure is the server's time per token
    p = run_cli("recommend", study, "--scenario", "cost", "--slo", slo, "--json")
    assert p.returncode == 0, p.stderr
    picks = json.loads(p.stdout)
    assert [x["group"] for x in picks] == ["7B", "13B", "70B"]
    for x in picks:
        assert x["slo"] == slo.split(",")
        if x["run_id"] is None:
            assert "meets the SLO" in x["note"]
    assert picks[0]["run_id"] is not None  # some 7B cells meet it
    # the client's ms/token was not measured in 2023: no imported cell meets a limit on it
    client = json.loads(run_cli("recommend", study, "--scenario", "cost", "--slo", "p90_ms_per_token<=30",
                                "--json").stdout)
    assert all(x["run_id"] is None for x in client)


def test_pareto_and_catalog_json(study):
    p = run_cli("pareto", study, "--json")
    assert p.returncode == 0 and {x["group"] for x in json.loads(p.stdout)} == {"7B", "13B", "70B"}
    c = run_cli("catalog", "--region", "eu-west-1", "--json")
    assert c.returncode == 0, c.stderr
    cat = json.loads(c.stdout)
    names = {e["name"]: e for e in cat["entries"]}
    assert set(names["ml.g5.2xlarge"]["prices"]) == {"eu-west-1"}
    assert {"ml.p5.48xlarge", "g6e.xlarge", "ml.g6.12xlarge"} <= set(names)
    assert cat["cpu_profiles"][0]["name"] == "local-cpu"
    assert cat["gpus"]["H200-SXM-141GB"]["memory_bandwidth_gbs"] == 4800  # the accelerator table, with sources
    t = run_cli("catalog", "--region", "us-east-1")
    assert t.returncode == 0 and "1.515" in t.stdout


def test_errors_are_one_line(tmp_path):
    one_line_error(run_cli("import-seed", tmp_path / "nope", "--out", tmp_path), "seed folder", "does not exist")
    one_line_error(run_cli("recommend", tmp_path / "nope", "--scenario", "cost"), "does not exist")
    (tmp_path / "empty").mkdir()
    one_line_error(run_cli("recommend", tmp_path / "empty", "--scenario", "cost"), "no runs under")
    one_line_error(run_cli("catalog", "--region", "mars-1"), "no prices for region 'mars-1'")
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries:\n  - {name: x, gpu_count: many}\n")
    one_line_error(run_cli("catalog", "--catalog", bad), "gpu_count")


def test_bad_scenario_and_slo(study):
    one_line_error(run_cli("recommend", study, "--scenario", "fastest"), "unknown scenario 'fastest'", "cost")
    one_line_error(run_cli("recommend", study, "--scenario", "cost", "--slo", "p90_bogus<=1"), "--slo")
    one_line_error(run_cli("recommend", study, "--scenario", "cost", "--basis", "blog"), "unknown basis")
