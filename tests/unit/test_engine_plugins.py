"""Engines as plugins: every per-engine fact comes from the engine's own module, through the registry."""

import ast
from pathlib import Path

import pytest

import deploybench
from deploybench.engines import sagemaker, vllm
from deploybench.load.scrape import parse
from deploybench.metrics import summarize_server
from deploybench.schemas import ConfigError, Deployment, engine_plugins
from deploybench.sweep import estimate, plan, validate_study

SRC = Path(deploybench.__file__).parent
BUILTINS = {"llamacpp", "external", "vllm", "tgi", "sagemaker"}


def _study(**over):
    data = {"name": "t", "models": [{"name": "m", "source": "org/model"}], "load": {"concurrency": [1], "requests": 2},
            "hardware": [{"name": "ml.g5.12xlarge", "kind": "instance"}], **over}
    return validate_study(data, "s.yaml")


def test_builtins_register_through_the_entry_point_group():
    plugins = engine_plugins()
    assert BUILTINS <= set(plugins)
    for kind in BUILTINS:
        assert plugins[kind].kind == kind and type(plugins[kind]).__module__ == f"deploybench.engines.{kind}"
        assert plugins[kind].config.model_fields["kind"].default == kind


def test_config_union_and_error_hints_come_from_the_registry():
    with pytest.raises(ConfigError) as e:
        validate_study({"name": "x", "deployments": [{"engine": {"kind": "nope"}}]}, "s.yaml")
    assert all(k in e.value.fix for k in BUILTINS)
    with pytest.raises(ConfigError) as e:
        validate_study({"name": "x", "deployments": [{"engine": {"kind": "vllm", "max_num_seqs": 0}}]}, "s.yaml")
    assert "deployments[0].engine.max_num_seqs" in e.value.line()
    with pytest.raises(ConfigError, match="engine.kind.*not an installed engine"):
        _study(engine={"kind": "nope"})


def test_plan_takes_protocol_gpus_and_startup_from_the_plugins():
    tgi = plan(_study(engine={"kind": "tgi"}))[0].deployment
    assert tgi.protocol == "tgi" and tgi.engine.num_shard == 4  # the catalog's GPU count
    sm = plan(_study(engine={"kind": "sagemaker"}))[0].deployment
    assert sm.protocol == "sagemaker-tgi" and sm.hardware.price_per_hour == pytest.approx(7.09)  # catalog price
    est = estimate(_study(engine={"kind": "sagemaker"}), plan(_study(engine={"kind": "sagemaker"})))
    assert est.wall_s >= engine_plugins()["sagemaker"].startup_s and est.cloud_cost_usd > 0
    llama = _study(models=[{"name": "s", "source": "smollm2"}], hardware=[{"name": "c", "threads": 1,
                                                                         "price_per_hour": 0.1}])
    assert estimate(llama, plan(llama)).cloud_cost_usd == 0  # not a cloud engine


def test_tensor_parallel_checked_once_by_the_catalog():
    hw = [{"name": "ml.g5.12xlarge", "kind": "instance", "tp": 8}]
    with pytest.raises(ConfigError) as e:
        plan(_study(engine={"kind": "vllm"}, hardware=hw))
    assert "hardware[0].tp" in e.value.problem and "exceeds the 4 GPU(s)" in e.value.problem
    with pytest.raises(ConfigError, match="does not run on instance profiles"):
        plan(_study(engine={"kind": "llamacpp"}, models=[{"name": "s", "source": "smollm2"}]))


def test_one_model_registry_vllm_converts_every_bundled_model():
    for ref in ("smollm2", "SmolLM2-135M-Instruct", "gemma3-270m", "gemma-3-270m", "x/model.gguf"):
        assert vllm._is_gguf_ref(ref), ref  # converted from GGUF, not fetched from a hub
    assert not vllm._is_gguf_ref("google/gemma-3-270m")


def test_one_price_source():
    assert not any(isinstance(v, dict) and "ml.g5.2xlarge" in v for v in vars(sagemaker).values())


def test_server_metric_names_come_from_the_plugins():
    text = ("# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"m\"} 3\n"
            "# TYPE tgi_queue_size gauge\ntgi_queue_size 2\n# TYPE python_gc_objects_collected counter\n"
            "python_gc_objects_collected_total 9\n")
    values = parse(text)
    assert values == {"vllm:num_requests_waiting": 3.0, "tgi_queue_size": 2.0}
    got = summarize_server([{"t_ns": 0, "values": {"tgi_queue_size": 2.0}}, {"t_ns": 1, "values": {"tgi_queue_size": 4.0}}])
    assert got["requests_waiting"] == {"mean": 3.0, "max": 4.0, "n": 2, "series": "tgi_queue_size"}


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            out.add("." * node.level + (node.module or ""))
    return out


def test_no_cycle_between_engines_and_modelgen():
    for f in (SRC / "engines" / "modelgen").glob("*.py"):
        bad = {m for m in _imports(f) if m.startswith("..") and not m.startswith("...")}
        assert not bad, f"{f.name} imports {bad} from deploybench.engines"


def test_schemas_never_import_engines():
    for f in (SRC / "schemas").glob("*.py"):
        assert not any("engines" in m for m in _imports(f)), f.name


def test_stored_engine_configs_still_load():
    dumped = {"name": "d", "engine": {"kind": "llamacpp", "model": "smollm2", "quantization": None, "threads": 1,
                                      "parallel": 2, "ctx_size": 1024, "batch_size": None, "cpu_set": [0],
                                      "port": None, "extra_args": [], "binary": None, "startup_timeout_s": 60.0},
              "protocol": "openai-chat", "hardware": {"name": "c", "price_per_hour": 0.1}, "labels": {}}
    assert Deployment.model_validate(dumped).model_dump(mode="json") == dumped
