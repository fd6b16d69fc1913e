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


# --------------------------------------------------------------------------- what the rest of the tool asks a plugin


def test_serving_features_come_from_each_plugin():
    from deploybench.schemas import plugins

    def serving(engine):
        return plugins.serving(Deployment.model_validate({"engine": engine}).engine)

    assert serving({"kind": "vllm", "tensor_parallel_size": 2, "max_num_seqs": 8, "quantization": "awq"}) \
        == plugins.Serving(model="smollm2", tp=2, batch_slots=8, weight_precision="awq")
    assert serving({"kind": "tgi", "model_id": "m", "num_shard": 4, "quantize": "gptq"}).devices == 4
    sm = serving({"kind": "sagemaker", "model_id": "m", "instance_type": "ml.g5.12xlarge", "num_gpus": 2})
    assert (sm.tp, sm.instance_type) == (2, "ml.g5.12xlarge")
    llama = serving({"kind": "llamacpp", "threads": 3, "parallel": 6, "quantization": "Q8_0"})
    assert (llama.threads, llama.batch_slots, llama.weight_precision, llama.devices) == (3, 6, "Q8_0", None)


def test_calibration_group_and_stored_configs():
    from deploybench.schemas import plugins

    stored = {"kind": "sagemaker", "model_id": "m", "instance_type": "ml.g5.2xlarge", "tgi_version": "0.9.3"}
    cfg = plugins.stored_config(stored)
    assert plugins.calibration_group(cfg) == "tgi-0.9.3"  # the 2023 cells' label: they calibrate together
    assert plugins.calibration_group(plugins.stored_config({"kind": "llamacpp"})) == "llamacpp"
    assert plugins.stored_config({"kind": "llamacpp", "no_such_field": 1}) is None  # an older store: no guess
    assert plugins.stored_config({"kind": "not-installed"}) is None


def test_default_engine_is_the_registrys(monkeypatch):
    from deploybench.schemas import EngineGrid, plugins

    assert plugins.default_kind() == "llamacpp" and Deployment().engine.kind == "llamacpp"
    monkeypatch.setattr(type(engine_plugins()["vllm"]), "default_rank", 5)  # a plugin that ranks itself higher
    assert plugins.default_kind() == "vllm" and EngineGrid().kind == "vllm" and Deployment().engine.kind == "vllm"


def test_the_cli_shortcut_is_the_plugins(monkeypatch):
    from deploybench.engines.shortcut import shortcut_config

    llama = deploybench.shortcut_engine(model="smollm2", threads=3, parallel=None)
    assert (llama.kind, llama.threads, llama.parallel) == ("llamacpp", 3, 4)  # unset: the config's own default
    ext = deploybench.shortcut_engine(endpoint="http://127.0.0.1:9", model="m")
    assert (ext.kind, ext.url, ext.model) == ("external", "http://127.0.0.1:9", "m")
    with pytest.raises(ConfigError) as e:
        deploybench.shortcut_engine(endpoint="http://127.0.0.1:9", threads=2)
    assert e.value.line().startswith("--threads: engine 'external'") and "--endpoint" in e.value.fix
    with pytest.raises(ConfigError, match="^engine: threads"):
        deploybench.shortcut_engine(threads=0)
    vllm = type(engine_plugins()["vllm"])  # a default engine whose --parallel is its max_num_seqs
    monkeypatch.setattr(vllm, "default_rank", 5)
    monkeypatch.setattr(vllm, "shortcut", {"model": "model", "parallel": "max_num_seqs"})
    assert deploybench.shortcut_engine(parallel=16).max_num_seqs == 16
    with pytest.raises(ConfigError, match="^--ctx-size: engine 'vllm'"):
        shortcut_config({"ctx_size": 1024})


def test_cloud_cleanup_is_asked_of_every_plugin(monkeypatch):
    from deploybench.engines.cleanup import Leftover

    calls = []
    sm = type(engine_plugins()["sagemaker"])
    monkeypatch.setattr(sm, "find_leftovers", lambda self, region, study=None, older_than_hours=None:
                        [Leftover("endpoint", "e1", "arn:e1")])
    monkeypatch.setattr(sm, "delete_leftovers", lambda self, region, found, report=None:
                        calls.append((region, [lo.name for lo in found])) or [(lo, None) for lo in found])
    found = deploybench.cloud_leftovers("eu-west-1")
    assert [(lo.engine, lo.name) for lo in found] == [("sagemaker", "e1")]  # the other engines create none
    assert deploybench.delete_cloud_leftovers("eu-west-1", found) == [(found[0], None)]
    assert calls == [("eu-west-1", ["e1"])]


def test_quality_ladder_and_pruning_are_declared(tmp_path):
    from deploybench.quality.study import check
    from deploybench.sweep.prune import _grid

    vllm_only = _study(engine={"kind": "vllm"}, quality={"method": "kld"})
    with pytest.raises(ConfigError, match="no deployment of this study serves one"):
        check(vllm_only, plan(vllm_only))
    ext = validate_study({"name": "x", "deployments": [{"name": "e", "engine": {"kind": "external",
                                                                                "url": "http://127.0.0.1:9"}}]}, "s")
    with pytest.raises(ConfigError, match="deployment e cannot be predicted .engine 'external'"):
        _grid(ext, plan(ext), [])


def test_kv_precision_reaches_the_predictor(monkeypatch):
    from dataclasses import replace

    from deploybench.predict.deployed import deployment_features
    from deploybench.predict.features import Workload
    from deploybench.predict.model import Params, max_batch

    dep = Deployment.model_validate({"engine": {"kind": "vllm", "model": "meta-llama/Llama-2-7b-hf",
                                                "max_num_seqs": 10_000}, "hardware": {"name": "ml.g5.2xlarge"}})
    wl = Workload(input_mean=512, input_median=512, output_tokens=512, source="test")
    f16 = deployment_features(dep, 1, wl)
    vllm_plugin = type(engine_plugins()["vllm"])
    declared = vllm_plugin.serving
    monkeypatch.setattr(vllm_plugin, "serving", lambda self, cfg: replace(declared(self, cfg), kv_precision="fp8"))
    fp8 = deployment_features(dep, 1, wl)
    assert (f16.kv_bits, fp8.kv_bits, f16.hardware.devices) == (16.0, 8.0, 1)
    assert max_batch(fp8, Params()) == pytest.approx(2 * max_batch(f16, Params()), rel=0.1)  # half the bytes
