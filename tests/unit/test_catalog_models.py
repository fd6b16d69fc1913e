"""Bundled open-model architectures, the config.json reader, and a config.json overriding an entry."""

import json

import pytest

from deploybench.catalog import ModelArchitecture, architecture, from_hf_config, load_architectures
from deploybench.schemas import ConfigError

FAMILIES = {"llama2", "llama3", "mistral", "mixtral", "qwen2", "qwen3", "qwen3-moe", "gemma2", "gemma3", "deepseek-v3"}

# A Qwen3-MoE-shaped config.json as the hub publishes it (keys as in the file; a smaller, made-up model)
SMALL_MOE = {
    "architectures": ["Qwen3MoeForCausalLM"], "model_type": "qwen3_moe", "hidden_size": 1024,
    "num_hidden_layers": 12, "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 64,
    "intermediate_size": 3072, "moe_intermediate_size": 256, "num_experts": 32, "num_experts_per_tok": 4,
    "vocab_size": 32000, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "max_position_embeddings": 8192,
}


@pytest.fixture(scope="module")
def table():
    return load_architectures()


def test_table_covers_the_families_and_every_entry_has_a_source(table):
    assert FAMILIES <= {a.family for a in table.values()}
    for a in table.values():
        assert a.source.startswith("https://huggingface.co/") and a.source.endswith("/config.json"), a.name
        assert a.hf_id and a.hf_id in a.source
        assert a.recalled or "fetched" in a.source
        assert a.torch_dtype and a.total_params_b, a.name
        assert (a.active_params_b is not None) == a.is_moe, a.name


def test_estimated_parameters_match_the_published_counts(table):
    for a in table.values():
        total, active = a.param_counts()
        tol = 0.03 if a.family != "gemma3" else 0.05  # Gemma 3's published count includes its vision tower
        assert total / 1e9 == pytest.approx(a.total_params_b, rel=tol), a.name
        if a.is_moe:
            assert active / 1e9 == pytest.approx(a.active_params_b, rel=tol), a.name
            assert active < total / 3, a.name
        else:
            assert active == total


def test_lookup_by_name_hub_id_or_alias(table):
    assert architecture("deepseek-ai/DeepSeek-R1").name == "DeepSeek-R1"
    assert architecture("llama-3.1-70b").num_key_value_heads == 8
    assert architecture("Meta-Llama-3.1-405B-Instruct").num_hidden_layers == 126
    assert architecture("Qwen3-30B-A3B").active_params == pytest.approx(3.3e9)
    with pytest.raises(ConfigError) as e:
        architecture("Llama-3.1-80B")
    assert "unknown model architecture" in e.value.problem and "Llama-3.1-8B" in e.value.fix


def test_kv_cache_bytes_gqa_and_mla(table):
    llama = table["Llama-3.1-70B"]
    assert llama.kv_bytes_per_token() == 2 * 80 * 8 * 128 * 2  # K and V, 80 layers, 8 KV heads, fp16
    assert llama.kv_bytes_per_token(1.0) == llama.kv_bytes_per_token() / 2  # fp8 cache
    ds = table["DeepSeek-V3"]
    assert ds.uses_mla and ds.kv_bytes_per_token() == 61 * (512 + 64) * 2


def test_config_json_reader(tmp_path):
    f = tmp_path / "config.json"
    f.write_text(json.dumps(SMALL_MOE))
    a = from_hf_config(f, name="small-moe")
    assert (a.hidden_size, a.num_experts, a.num_experts_per_tok, a.moe_intermediate_size) == (1024, 32, 4, 256)
    assert a.head_dim == 64 and a.torch_dtype == "bfloat16" and str(f) in a.source and not a.recalled
    total, active = a.param_counts()
    attn = 2 * 1024 * 16 * 64 + 2 * 1024 * 4 * 64
    expert = 3 * 1024 * 256
    emb = 2 * 32000 * 1024
    assert total == 12 * (attn + 32 * expert + 1024 * 32) + emb
    assert active == 12 * (attn + 4 * expert + 1024 * 32) + emb
    assert from_hf_config(tmp_path).name == "qwen3_moe"  # a folder with config.json in it


def test_config_json_reader_mixtral_deepseek_and_nested_text_config():
    mixtral = from_hf_config({"hidden_size": 4096, "num_hidden_layers": 32, "num_attention_heads": 32,
                              "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000,
                              "num_local_experts": 8, "num_experts_per_tok": 2})
    assert mixtral.moe_intermediate_size == 14336 and mixtral.param_counts()[1] / 1e9 == pytest.approx(12.9, rel=0.01)
    ds = architecture("DeepSeek-V3")
    cfg = {**{k: getattr(ds, k) for k in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                          "num_key_value_heads", "intermediate_size", "vocab_size", "q_lora_rank",
                                          "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim",
                                          "moe_intermediate_size", "num_experts_per_tok")},
           "n_routed_experts": 256, "n_shared_experts": 1, "first_k_dense_replace": 3}
    assert from_hf_config(cfg).param_counts() == ds.param_counts()
    gemma = from_hf_config({"model_type": "gemma3", "torch_dtype": "bfloat16",
                            "text_config": {"hidden_size": 5376, "num_hidden_layers": 62, "num_attention_heads": 32,
                                            "num_key_value_heads": 16, "head_dim": 128, "intermediate_size": 21504,
                                            "vocab_size": 262208}})
    assert gemma.num_hidden_layers == 62 and gemma.torch_dtype == "bfloat16" and gemma.head_dim == 128


def test_config_json_overrides_the_bundled_entry(tmp_path, table):
    base = table["Llama-3.1-8B"]
    f = tmp_path / "config.json"
    f.write_text(json.dumps({"hidden_size": 4096, "num_hidden_layers": 16, "num_attention_heads": 32,
                             "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 128256,
                             "torch_dtype": "float16"}))
    a = architecture("Llama-3.1-8B", config_json=f)
    assert a.name == "Llama-3.1-8B" and a.hf_id == base.hf_id  # identity kept
    assert a.num_hidden_layers == 16 and a.torch_dtype == "float16"  # the file's fields win
    assert a.head_dim == 128 and a.max_position_embeddings == base.max_position_embeddings  # the rest kept
    assert a.total_params_b is None and a.total_params == pytest.approx(a.param_counts()[0])  # re-estimated
    assert str(f) in a.source and not a.recalled
    same = tmp_path / "same.json"
    same.write_text(json.dumps({k: getattr(base, k) for k in ("hidden_size", "num_hidden_layers",
                                                              "num_attention_heads", "intermediate_size",
                                                              "vocab_size")}))
    assert architecture("Llama-3.1-8B", config_json=same).total_params_b == base.total_params_b  # same shape
    assert base.num_hidden_layers == 32 and load_architectures()["Llama-3.1-8B"].num_hidden_layers == 32
    new = architecture("my-model", config_json={**SMALL_MOE})
    assert new.name == "my-model" and new.is_moe


@pytest.mark.parametrize("cfg, words", [
    ({"hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2, "vocab_size": 10}, ["intermediate_size"]),
    ({"hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 3,
      "intermediate_size": 16, "vocab_size": 10}, ["num_key_value_heads"]),
])
def test_bad_config_is_one_config_error(cfg, words):
    with pytest.raises(ConfigError) as e:
        from_hf_config(cfg)
    for w in words:
        assert w in e.value.line() and "\n" not in e.value.line()


def test_unreadable_config(tmp_path):
    with pytest.raises(ConfigError, match="no such config.json"):
        from_hf_config(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ConfigError, match="cannot be read"):
        architecture("Llama-3.1-8B", config_json=tmp_path / "bad.json")


def test_user_models_file_adds_and_replaces(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("models:\n  - {name: Tiny, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 4,"
                 " num_key_value_heads: 4, head_dim: 16, intermediate_size: 128, vocab_size: 100,"
                 " source: my notes}\n")
    t = load_architectures(f)
    assert isinstance(t["Tiny"], ModelArchitecture) and "Llama-3.1-8B" in t
