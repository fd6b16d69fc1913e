"""deploybench.predict: the model's arithmetic against hand-computed cases (pure, fast)."""

from __future__ import annotations

import json
import math

import pytest

from deploybench.predict import features as feat
from deploybench.predict import model as m
from deploybench.predict.capacity import erlang_c, prompt_quantile
from deploybench.predict.features import LLAMA2, CellFeatures, HardwareFeatures, Workload
from deploybench.predict.fit import FittedModel, fit, predict
from deploybench.predict.cells import Cell
from deploybench.predict.validate import mape
from deploybench.schemas import ConfigError

IDEAL = m.Params(e_mem=1.0, e_dec=1.0, e_pre=1.0, o_step=0.0, o_layer=0.0, alpha=0.0, e_link=1.0)
A10G = HardwareFeatures(name="ml.g5.2xlarge", family="g5", devices=1, memory_gib=24, bandwidth_gbs=600,
                        peak_tflops={"fp16": 70}, interconnect_gbs=32, price_per_hour=1.515)


def cell(size="7B", bits=16.0, hw=A10G, n=1, devices=None, wl=None, max_batch=None) -> CellFeatures:
    if devices:
        hw = hw.model_copy(update={"devices": devices})
    return CellFeatures(model=size, arch=LLAMA2[size], quantization="none" if bits == 16 else "gptq", bits=bits,
                        hardware=hw, engine="tgi-1.0.3", concurrency=n, max_batch=max_batch,
                        workload=wl or Workload(input_mean=200, input_median=200, output_tokens=50))


def test_llama2_parameter_counts_match_published():
    # Hugging Face model cards: 6,738,415,616 / 13,015,864,320 / 68,976,648,192 parameters
    assert LLAMA2["7B"].params == 6_738_415_616
    assert LLAMA2["13B"].params == 13_015_864_320
    assert LLAMA2["70B"].params == 68_976_648_192


def test_kv_bytes_per_token():
    assert LLAMA2["7B"].kv_bytes_per_token() == 2 * 32 * 32 * 128 * 2 == 524_288
    assert LLAMA2["70B"].kv_bytes_per_token() == 2 * 80 * 8 * 128 * 2 == 327_680  # GQA: 8 KV heads


def test_decode_step_is_bytes_over_bandwidth_when_memory_bound():
    # 7B fp16: 32 x 202,375,168 matrix weights x 2 B + 32000 x 4096 x 2 B output head = 13,214,154,752 B
    f = cell()
    assert m.weight_bytes(f) == 13_214_154_752
    step, mem, comp = m.decode_step_ms(f, batch=1, context=0, p=IDEAL)
    assert mem == pytest.approx(13_214_154_752 / 600e9 * 1e3)  # 22.02 ms
    assert comp < mem and step == pytest.approx(mem)


def test_decode_turns_compute_bound_at_large_batch():
    f = cell()
    _, mem, comp = m.decode_step_ms(f, batch=512, context=0, p=IDEAL)
    flops = 512 * 2 * (32 * 202_375_168 + 32000 * 4096)
    assert comp == pytest.approx(flops / 70e12 * 1e3)
    assert comp > mem


def test_comm_ring_allreduce_by_hand():
    p = IDEAL.model_copy(update={"alpha": 0.01})
    f = cell(devices=4)
    # 2 all-reduces x 32 layers x (0.01 ms x 2(tp-1) hops + 4096 x 2 B x 2 x 3/4 / 32 GB/s)
    assert m.comm_ms(f, tokens=1, p=p) == pytest.approx(64 * (0.06 + 1e3 * 4096 * 2 * 2 * 0.75 / 32e9))
    assert m.comm_ms(cell(), tokens=1, p=p) == 0.0


def test_tp_divides_bytes():
    one = m.decode_step_ms(cell(), 1, 0, IDEAL)[1]
    four = m.decode_step_ms(cell(devices=4), 1, 0, IDEAL)[1]
    assert four == pytest.approx(one / 4)


def test_gptq_reads_fewer_bytes():
    f = cell(bits=4.156)
    assert m.weight_bytes(f) == pytest.approx(32 * 202_375_168 * 4.156 / 8 + 32000 * 4096 * 2)


def test_max_batch_from_kv_capacity_and_engine_limit():
    p = m.Params(mem_reserve=0.1)
    f = cell()
    free = 24 * 2**30 * 0.9 - 13_214_154_752
    assert m.max_batch(f, p) == int(free // (250 * 524_288))
    assert m.max_batch(cell(max_batch=4), p) == 4
    assert m.max_batch(cell("70B"), p) == 0  # 70B fp16 does not fit one A10G


def test_closed_loop_beyond_the_batch_queues():
    p = m.Params()
    at = m.predict_cell(cell(n=4, max_batch=4), p)
    beyond = m.predict_cell(cell(n=8, max_batch=4), p)
    assert beyond.batch == 4
    assert beyond.tok_s == pytest.approx(at.tok_s)  # the same 4 slots serve 8 users
    assert beyond.e2e_ms == pytest.approx(at.e2e_ms * 2)


def test_prediction_cost_from_throughput_and_price():
    p = m.predict_cell(cell(n=5), m.Params())
    assert p.cost_per_1m == pytest.approx(1.515 * 1e6 / p.tok_s / 3600)
    assert p.tok_s == pytest.approx(5 * 50 * 1e3 / p.e2e_ms)


def test_roofline_fraction_is_bound_over_measured():
    from deploybench.predict.fit import roofline_fraction

    f = cell()
    bound = m.roofline_decode_ms(f, 1)
    assert roofline_fraction(f, tpot_ms=2 * bound) == pytest.approx(0.5)
    assert roofline_fraction(f) is None


def test_erlang_c_known_values():
    assert erlang_c(1, 0.5) == pytest.approx(0.5)  # M/M/1: P(wait) = rho
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3)
    assert erlang_c(4, 4.0) == 1.0


def test_prompt_quantile_lognormal():
    w = Workload(input_mean=200, input_median=200, output_tokens=10)
    assert prompt_quantile(w, "p90") == pytest.approx(200)
    w = Workload(input_mean=233.094, input_median=95.5, output_tokens=50)
    sigma = math.sqrt(2 * math.log(233.094 / 95.5))
    assert prompt_quantile(w, "p90") == pytest.approx(95.5 * math.exp(1.2816 * sigma))


def test_mape_by_hand():
    assert mape([110, 90], [100, 100]) == pytest.approx(10.0)
    assert mape([150], [100]) == pytest.approx(50.0)


def test_bits_per_weight_and_unknown_quantization():
    assert feat.bits_per_weight("GPTQ") == pytest.approx(4.156)
    assert feat.bits_per_weight("Q4_0") == 4.5
    with pytest.raises(ConfigError) as e:
        feat.bits_per_weight("q9_z")
    assert "q9_z" in e.value.line() and "\n" not in e.value.line()


def test_arch_from_hf_config(tmp_path):
    cfg = {"num_hidden_layers": 30, "hidden_size": 576, "num_attention_heads": 9, "num_key_value_heads": 3,
           "intermediate_size": 1536, "vocab_size": 49152, "max_position_embeddings": 8192, "tie_word_embeddings": True}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    a = feat.arch_from_hf_config(path, name="smollm2-135m")
    assert (a.layers, a.kv_heads, a.head_dim, a.tied_embeddings) == (30, 3, 64, True)
    assert a.params == pytest.approx(134.5e6, rel=0.01)  # SmolLM2-135M
    with pytest.raises(ConfigError, match="num_hidden_layers"):
        feat.arch_from_hf_config({"hidden_size": 1})


def test_llama2_arch_from_labels():
    assert feat.llama2_arch("meta-llama/Llama-2-13b-hf") is LLAMA2["13B"]
    assert feat.llama2_arch("TheBloke/Llama-2-70B-GPTQ") is LLAMA2["70B"]
    assert feat.llama2_arch("7B") is LLAMA2["7B"]
    assert feat.llama2_arch("smollm2-135m") is None


def test_hardware_features_from_catalog():
    hw = feat.hardware_features("ml.g5.48xlarge", tp=8)
    assert (hw.devices, hw.bandwidth_gbs, hw.memory_gib, hw.interconnect_gbs) == (8, 600, 24, 16)
    assert hw.tflops("fp16") > 0 and hw.source
    assert feat.hardware_features("ml.p4d.24xlarge").interconnect == "nvlink3"
    with pytest.raises(ConfigError, match="exceeds"):
        feat.hardware_features("ml.g5.2xlarge", tp=2)
    with pytest.raises(ConfigError, match="measured"):
        feat.hardware_features("local-cpu")


def test_cpu_bandwidth_measurement_is_plausible():
    got = feat.measure_cpu_bandwidth(mib=16, repeats=2)
    assert 0.1 < got["bandwidth_gbs"] < 2000 and got["tflops"] > 0


def _synthetic(params: m.Params) -> list[Cell]:
    cells = []
    for size in ("7B", "13B"):
        for devices in (1, 4):
            for n in (1, 5, 20):
                f = cell(size, devices=devices, n=n)
                pred = m.predict_cell(f, params)
                cells.append(Cell(f, {"ms_per_token": pred.ms_per_token, "tok_s": pred.tok_s}))
    return cells


def test_fit_recovers_a_model_it_generated(tmp_path):
    truth = m.Params(e_mem=0.8, e_pre=0.5, o_step=3.0, o_layer=0.25, alpha=0.004, e_link=0.2, k_queue=2.0)
    cells = _synthetic(truth)
    model = fit(cells)
    for c in cells:
        p = predict(model, c.features)
        assert p.ms_per_token == pytest.approx(c.measured["ms_per_token"], rel=0.03)
        assert p.tok_s == pytest.approx(c.measured["tok_s"], rel=0.03)
        assert p.calibrated and p.uncertainty["ms_per_token"] < 0.05
    again = FittedModel.load(model.save(tmp_path / "m.json"))
    assert again.model_dump() == model.model_dump()


def test_unseen_family_falls_back_to_global_with_wider_uncertainty():
    model = fit(_synthetic(m.Params()))
    other = cell(hw=A10G.model_copy(update={"family": "g6", "name": "ml.g6.xlarge"}))
    seen, unseen = predict(model, cell()), predict(model, other)
    assert not unseen.calibrated and unseen.uncertainty["tok_s"] > seen.uncertainty["tok_s"]


def test_model_file_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="not a deploybench predict model"):
        FittedModel.load(bad)
    with pytest.raises(ConfigError, match="cannot be read"):
        FittedModel.load(tmp_path / "missing.json")


def test_arch_and_bits_from_gguf(tmp_path):
    gguf = pytest.importorskip("gguf")
    import numpy as np

    path = tmp_path / "tiny.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_embedding_length(64)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_feed_forward_length(128)
    w.add_context_length(256)
    w.add_token_list([b"t%d" % i for i in range(30)])
    w.add_tensor("token_embd.weight", np.zeros((30, 64), dtype=np.float16))
    for i in range(2):
        for name, shape in (("attn_q", (64, 64)), ("attn_k", (32, 64)), ("attn_v", (32, 64)),
                            ("attn_output", (64, 64)), ("ffn_gate", (128, 64)), ("ffn_up", (128, 64)),
                            ("ffn_down", (64, 128))):
            w.add_tensor(f"blk.{i}.{name}.weight", np.zeros(shape, dtype=np.float16))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    a, bits = feat.arch_from_gguf(path)
    assert (a.layers, a.hidden, a.heads, a.kv_heads, a.ffn, a.vocab, a.context) == (2, 64, 4, 2, 128, 30, 256)
    assert a.tied_embeddings and bits == 16.0  # f16 matrices; no output.weight: tied
    assert a.linear_params_per_layer == 2 * 64 * 64 + 2 * 64 * 32 + 3 * 64 * 128
    with pytest.raises(ConfigError, match="model file not found"):
        feat.arch_from_gguf(tmp_path / "missing.gguf")
    (tmp_path / "junk.gguf").write_bytes(b"not gguf at all")
    with pytest.raises(ConfigError, match="not a GGUF file"):
        feat.arch_from_gguf(tmp_path / "junk.gguf")


def test_local_cpu_cell_features_use_measured_bandwidth(tmp_path, monkeypatch):
    from deploybench.predict import cells as cells_mod, deployed as deployed_mod
    from deploybench.schemas import Dist, EngineInfo, RunMeta, RunSummary

    monkeypatch.setattr(deployed_mod, "host_figures", lambda: {"bandwidth_gbs": 12.5, "tflops": 0.2, "source": "test"})
    meta = RunMeta(run_id="smol__c4", deployment="smol", concurrency=4, status="complete", price_per_hour=0.09,
                   labels={"model": "7B", "quantization": "Q4_0", "hardware": "cpu-2core", "engine": "llamacpp"},
                   deployment_config={"engine": {"kind": "llamacpp", "settings": {"parallel": 4, "threads": 2}}},
                   engine=EngineInfo(kind="llamacpp", model="7B"))
    d = Dist(n=10, p50=100.0)
    s = RunSummary(run_id="smol__c4", deployment="smol", concurrency=4, requests=10, completed=10, errors=0,
                   error_rate=0.0, window_s=10.0, output_tokens=500, input_tokens=1280, output_throughput_tok_s=50.0,
                   request_throughput_rps=1.0, ttft_ms=d, tpot_ms=d, itl_ms=d, e2e_ms=d, ms_per_token=d,
                   schedule_lag_ms=Dist())
    f = cells_mod.cell_features(meta, s)
    assert (f.hardware.family, f.hardware.bandwidth_gbs, f.max_batch, f.bits) == ("cpu", 12.5, 4, 4.5)
    assert (f.workload.input_mean, f.workload.output_tokens) == (128.0, 50.0)
    assert cells_mod.measured_figures(s) == {"ms_per_token": 100.0, "tok_s": 50.0, "ttft_ms": 100.0, "tpot_ms": 100.0}
    p = m.predict_cell(f, m.Params())
    # 4 x 13.5 GFLOP at 0.2 TF x 0.3 = 0.90 s > 3.9 GB at 12.5 GB/s x 0.7 = 0.44 s: compute-bound
    assert p.bound == "compute" and p.batch == 4
