"""A third-party engine, added without touching deploybench: tests/plugins/deploybench-echo-engine.

The package (installed by `scripts/setup.sh --test`) registers engine ``echo`` under the
``deploybench.engines`` entry-point group; a study names it like a built-in engine, and the CLI
plans, estimates, starts, measures, stores and summarizes it like one (docs/adding-an-engine.md).
"""

import json
from importlib.metadata import entry_points

import pytest
import yaml

from deploybench import storage
from deploybench.schemas import ConfigError, Deployment, engine_plugins
from tests.e2e.test_cli import assert_one_line_error, run_cli

STUDY = {
    "name": "echo-study",
    "models": [{"name": "echo", "source": "echo-1"}],
    "hardware": [{"name": "cpu", "threads": 1, "price_per_hour": 0.36}],
    "engine": {"kind": "echo", "settings": {"ttft_ms": 30, "itl_ms": 5, "slots": [1, 4]}},
    "workload": {"source": {"kind": "synthetic", "input_tokens": 16, "prompts": 32}, "max_tokens": 8},
    "load": {"rounds": 1, "concurrency": [2], "requests": 8, "warmup_requests": 1, "scrape_interval_s": 0},
}


@pytest.fixture(scope="module", autouse=True)
def installed():
    if "echo" not in {ep.name for ep in entry_points(group="deploybench.engines")}:
        pytest.fail("the example engine plugin is not installed: run `bash scripts/setup.sh --test` "
                    "(pip install --no-deps --no-build-isolation -e tests/plugins/deploybench-echo-engine)")


def _write(tmp_path, **over):
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump({**STUDY, **over}))
    return path


def test_registered_through_the_entry_point_like_a_builtin():
    plugins = engine_plugins()
    assert {"echo", "llamacpp", "vllm", "tgi", "sagemaker", "external"} <= set(plugins)
    dep = Deployment.model_validate({"engine": {"kind": "echo", "ttft_ms": 5}})  # the shared config union
    assert type(dep.engine).__module__ == "deploybench_echo_engine" and dep.engine.ttft_ms == 5
    assert Deployment.model_validate(json.loads(dep.model_dump_json())) == dep  # stored configs load back
    with pytest.raises(ConfigError) as e:
        from deploybench.sweep import validate_study
        validate_study({"name": "x", "deployments": [{"engine": {"kind": "echo", "ttft": 5}}]}, "s.yaml")
    assert "engine.ttft: unknown field" in e.value.line()  # error hints strip the plugin's union tag too


def test_bad_setting_is_one_line(tmp_path):
    bad = _write(tmp_path, engine={"kind": "echo", "settings": {"itl_ms": -1}})
    assert_one_line_error(run_cli("run", str(bad), "--dry-run", "--out", str(tmp_path)),
                          "study.yaml", "engine.settings", "itl_ms")
    assert_one_line_error(run_cli("run", str(_write(tmp_path, quantizations=["Q8_0"])), "--dry-run",
                                  "--out", str(tmp_path)), "unknown quantization 'Q8_0'", "engine 'echo'", "native")


@pytest.mark.slow
def test_study_end_to_end_through_the_cli(tmp_path):
    study, out = _write(tmp_path), tmp_path / "runs"
    dry = run_cli("run", str(study), "--dry-run", "--out", str(out))
    assert dry.returncode == 0, dry.stderr
    assert "2 cells (2 to run)" in dry.stdout and "echo_native_cpu_slots1" in dry.stdout

    p = run_cli("run", str(study), "--out", str(out), "--json", timeout=120)
    assert p.returncode == 0, p.stderr
    rows = {r["deployment"]: r for r in json.loads(p.stdout)}
    assert set(rows) == {"echo_native_cpu_slots1", "echo_native_cpu_slots4"}
    for name, row in rows.items():
        run_dir = out / "echo-study" / f"{name}__c2"
        meta = storage.read_meta(run_dir)
        assert meta.status == "complete" and meta.engine.kind == "echo"
        stored = storage.read_summary(run_dir)
        assert stored is not None and stored.requests == 8 and stored.errors == 0
        assert stored.output_tokens == 8 * 8
        assert row["requests"] == 8 and stored.price_per_hour == pytest.approx(0.36)
    # the script's timing shows through: one slot makes the second user wait a whole request
    # (30 ms + 7 x 5 ms = 65 ms); four slots serve both users at once
    one, four = (storage.read_summary(out / "echo-study" / f"echo_native_cpu_slots{n}__c2") for n in (1, 4))
    assert 25 <= four.ttft_ms.p50 <= 60, four.ttft_ms
    assert one.ttft_ms.p90 >= four.ttft_ms.p90 + 40, (one.ttft_ms, four.ttft_ms)

    s = run_cli("summarize", str(out / "echo-study"), "--json")
    assert s.returncode == 0, s.stderr
    again = {r["deployment"]: r for r in json.loads(s.stdout)}
    assert again["echo_native_cpu_slots4"]["output_tokens"] == 64


# the echo engine "on" a 4-GPU instance type, its replica split over gpu_fanout GPUs: a TP field whose name
# only the plugin knows (EchoPlugin.serving translates it)
TP_STUDY = {
    **STUDY, "name": "echo-tp",
    "models": [{"name": "7B", "source": "meta-llama/Llama-2-7b-hf"}],  # a model the predictor knows
    "hardware": [{"name": "ml.g5.12xlarge", "kind": "instance"}],  # 4 GPUs, priced by the catalog
    "engine": {"kind": "echo", "settings": {"ttft_ms": 10, "itl_ms": 2, "slots": 2, "gpu_fanout": [1, 4]}},
}


@pytest.mark.slow
def test_predict_cells_reads_the_tp_field_through_the_plugin(tmp_path):
    study, out = _write(tmp_path, **TP_STUDY), tmp_path / "runs"
    p = run_cli("run", str(study), "--out", str(out), "--json", "--no-report", timeout=120)
    assert p.returncode == 0, p.stderr
    study_dir = out / "echo-tp"
    names = {r["deployment"] for r in json.loads(p.stdout)}
    one, four = (next(n for n in names if n.endswith(f"gpu_fanout{k}")) for k in (1, 4))
    for name, devices in ((one, 1), (four, 4)):  # the features stored at run time
        assert storage.read_meta(study_dir / f"{name}__c2").features["hardware"]["devices"] == devices

    c = run_cli("predict", "cells", str(study_dir), "--json")
    assert c.returncode == 0, c.stderr
    rows = {r["run_id"]: r for r in json.loads(c.stdout)}
    r1, r4 = rows[f"{one}__c2"], rows[f"{four}__c2"]
    assert (r1["hardware"], r1["devices"], r4["devices"]) == ("ml.g5.12xlarge", 1, 4)
    assert r1["prediction"]["group"] == r4["prediction"]["group"] == "echo-scripted|g5"  # the plugin's label
    assert r1["prediction"]["max_batch"] == r4["prediction"]["max_batch"] == 2  # slots, through the plugin too
    # a replica over 4 GPUs reads its weights with 4x the bandwidth: a decode step is predicted much faster
    assert r4["prediction"]["tpot_ms"] < 0.5 * r1["prediction"]["tpot_ms"], (r1["prediction"], r4["prediction"])
