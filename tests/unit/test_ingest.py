"""``deploybench import``: each format's fixture (tests/data/import/, written in the tool's documented output shape)
read into cells whose figures are checked against values worked out by hand; provenance; summary-only cells;
bad files give one line and store nothing; rules say per cell what they lack."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import deploybench
from deploybench import storage
from deploybench.schemas import ConfigError

DATA = Path(__file__).resolve().parents[1] / "data" / "import"
GPU = dict(hardware="ml.g5.2xlarge", engine="vllm", precision="bf16", tp=1, gpus=1)  # catalog: $1.515/h us-east-1


def _import(tmp_path, files, fmt, **kw):
    study, cells = deploybench.import_results(files, fmt, out=tmp_path, name="s", **{**GPU, **kw})
    return study, {c.level: c for c in cells}


def _cost(price, tput):  # $ per 1M output tokens, by hand
    return price * 1e6 / tput / 3600


def test_vllm_bench_detailed_records_recompute_every_figure(tmp_path):
    study, cells = _import(tmp_path, [DATA / "vllm-bench-detailed.json"], "vllm-bench")
    s = cells["c2"]
    # two successful requests: sent at 100.000 / 100.010 s, first chunk +50 / +60 ms, 3 more chunks 10 / 20 ms
    # apart, done +85 / +125 ms, 4 tokens each; one failed (connection refused) sent at 100.020
    assert (s.requests, s.completed, s.errors) == (3, 2, 1)
    assert s.ttft_ms.p50 == pytest.approx(55.0) and s.tpot_ms.p50 == pytest.approx(15.0)  # (30/3 + 60/3) / 2
    assert s.itl_ms.p50 == pytest.approx(15.0) and s.e2e_ms.p50 == pytest.approx(105.0)
    assert s.ms_per_token.p50 == pytest.approx((85 / 4 + 125 / 4) / 2)
    assert s.window_s == pytest.approx(0.135)  # first send 100.000 .. last completion 100.135
    assert s.output_throughput_tok_s == pytest.approx(8 / 0.135)
    assert s.cost_per_1m_tokens == pytest.approx(_cost(1.515, 8 / 0.135))
    assert s.errors_by_kind == {"other": 1}  # the tool's error text is kept; its kind is not one of ours
    meta = storage.read_meta(study / s.run_id)
    assert meta.labels["source"] == "import" and meta.labels["tool"] == "vllm-bench"
    assert meta.labels["data"] == "per-request" and "time" not in meta.labels  # one perf_counter clock: absolute
    prov = meta.config["import"]
    assert prov["file"] == str((DATA / "vllm-bench-detailed.json").resolve()) and len(prov["sha256"]) == 64
    assert prov["imported_at"] and prov["tool"] == "vllm-bench"
    assert meta.external["output_throughput"] == pytest.approx(57.142857)  # vLLM's own figure, kept beside
    recs = storage.read_records(study / s.run_id)
    assert [r.chunk_tokens for r in recs[:2]] == [[1, 1, 1, 1], [1, 1, 1, 1]]
    assert not any(r.relative_time for r in recs) and recs[2].error.endswith("(connection refused)")
    assert (study / s.run_id / storage.PARQUET).is_file()
    # the stored summary is what the store recomputes from the records
    again = deploybench.summarize(study)[0]
    assert again.ttft_ms == s.ttft_ms and again.output_throughput_tok_s == pytest.approx(s.output_throughput_tok_s)


def test_vllm_bench_without_detail_is_a_summary_only_cell_under_its_own_figures(tmp_path):
    study, cells = _import(tmp_path, [DATA / "vllm-bench-summary.json"], "vllm-bench")
    s = cells["r2-poisson"]  # request_rate 2.0, burstiness 1.0: a Poisson rate level
    assert s.labels["data"] == "summary-only" and s.level_kind == "rate"
    assert s.ttft_ms.p50 == 38.0 and s.ttft_ms.p99 == 80.0 and s.ttft_ms.p90 is None  # not published: null
    assert s.tpot_ms.p50 == 12.0 and s.e2e_ms.p50 == 420.0 and s.itl_ms.p50 == 11.9
    assert s.output_throughput_tok_s == 64.0 and s.window_s == 10.0 and s.request_throughput_rps == 2.0
    assert "ms_per_token" in s.missing and s.ms_per_token.p50 is None
    assert s.offered_rps == 2.0 and s.achieved_rps == 2.0
    assert not (study / s.run_id / storage.PARQUET).exists() and storage.read_records(study / s.run_id) == []


def test_guidellm_records_window_from_the_benchmark_and_its_metrics_when_sampled(tmp_path):
    _, cells = _import(tmp_path, [DATA / "guidellm-benchmarks.json"], "guidellm")
    full, sampled = cells["c2"], cells["c4"]
    # requests: start .1 / .2, first token .15 / .28, last .45 / .88, end .46 / .90, 4 tokens; one errored
    assert full.ttft_ms.p50 == pytest.approx(65.0, abs=1e-3)  # (50 + 80) / 2
    assert full.tpot_ms.p50 == pytest.approx(150.0, abs=1e-3)  # (300/3 + 600/3) / 2 = GuideLLM's ITL
    assert full.e2e_ms.p50 == pytest.approx(530.0, abs=1e-3) and full.errors == 1
    assert full.window_s == pytest.approx(2.0) and full.output_throughput_tok_s == pytest.approx(8 / 2.0)
    # the second benchmark stored 2 of its 10 successful requests: window figures from GuideLLM's metrics
    assert sampled.output_throughput_tok_s == pytest.approx(40 / 2.0) and sampled.output_tokens == 40
    assert sampled.request_throughput_rps == pytest.approx(10 / 2.0)
    assert sampled.ttft_ms.p50 == pytest.approx(65.0, abs=1e-3)  # latencies still from the sampled records
    assert "output_throughput_tok_s" not in sampled.intervals


def test_aiperf_records_and_aggregate_agree_with_the_hand_figures(tmp_path):
    _, cells = _import(tmp_path / "r", [DATA / "aiperf" / "profile_export.jsonl"], "aiperf")
    s = cells["c2"]  # concurrency from profile_export_aiperf.json beside it
    assert (s.requests, s.errors) == (3, 1)  # the warm-up record is stored but excluded
    assert s.ttft_ms.p50 == pytest.approx(55.0) and s.tpot_ms.p50 == pytest.approx(15.0)
    assert s.itl_ms.p50 == pytest.approx(15.0) and s.e2e_ms.p50 == pytest.approx(105.0)
    assert s.output_throughput_tok_s == pytest.approx(8 / 0.135)
    assert s.labels["model"] == "Llama-2-7b-hf"
    _, agg = _import(tmp_path / "a", [DATA / "aiperf" / "profile_export_aiperf.json"], "aiperf")
    a = agg["c2"]
    assert a.labels["data"] == "summary-only" and a.ttft_ms.p90 == 59.0
    assert a.tpot_ms.p50 == 15.0  # AIPerf's inter_token_latency = (latency - TTFT) / (tokens - 1)
    assert a.output_throughput_tok_s == pytest.approx(59.259259) and a.window_s == pytest.approx(0.135)
    assert "itl_ms" in a.missing and "ms_per_token" in a.missing


def test_llmperf_records_are_relative_and_take_the_window_from_the_summary(tmp_path):
    study, cells = _import(tmp_path, [DATA / "llmperf" / "meta-llama-Llama-2-7b-hf_10_4_individual_responses.json"],
                           "llmperf")
    s = cells["c2"]
    assert s.ttft_ms.p50 == pytest.approx(55.0) and s.e2e_ms.p50 == pytest.approx(105.0)
    # LLMPerf's inter_token_latency_s x tokens = the last chunk (80 / 120 ms): TPOT (80-50)/3, (120-60)/3
    assert s.tpot_ms.p50 == pytest.approx(15.0) and s.ms_per_token.p50 == pytest.approx(26.25)
    assert s.output_throughput_tok_s == 40.0 and s.window_s == pytest.approx(0.2)  # 8 tokens / 40 tok/s
    assert s.labels["time"] == "relative" and s.goodput_rps is None and s.offered_rps is None
    recs = storage.read_records(study / s.run_id)
    assert all(r.relative_time and r.sent_ns == 0 for r in recs)
    assert "relative times" in storage.read_meta(study / s.run_id).note
    _, summ = _import(tmp_path / "b", [DATA / "llmperf" / "meta-llama-Llama-2-7b-hf_10_4_summary.json"], "llmperf")
    t = summ["c2"]
    assert t.labels["data"] == "summary-only" and t.ttft_ms.p50 == pytest.approx(55.0)
    assert t.tpot_ms.p50 is None and "tpot_ms" in t.missing  # its ITL includes TTFT: not deploybench's TPOT
    assert t.external["results_inter_token_latency_s_quantiles_p50"] == 0.025  # kept under its own name


def test_table_rows_become_cells_with_prices_from_the_catalog_and_unknown_columns_kept(tmp_path):
    study, cells = deploybench.import_results([DATA / "published-table.csv"], "table", out=tmp_path, name="t")
    by = {c.run_id: c for c in cells}
    c = by["Llama-2-7b-hf_ml.g5.2xlarge_vllm_bf16_tp1__c5"]
    assert c.ttft_ms.p50 == 60 and c.ttft_ms.p99 == 140 and c.output_throughput_tok_s == 283.0
    assert c.price_per_hour == 1.515 and c.cost_per_1m_tokens == pytest.approx(_cost(1.515, 283.0))
    assert c.labels["engine"] == "vllm" and c.labels["gpus"] == "1" and c.labels["date"] == "2026-11-02"
    assert c.external["table_columns"] == {}  # an empty unknown column is not kept
    first = by["Llama-2-7b-hf_ml.g5.2xlarge_vllm_bf16_tp1__c1"]
    assert first.external["table_columns"] == {"notes": "warm cache"}
    means = by["Llama-2-7b-hf_ml.g5.2xlarge_sglang_bf16_tp1__c5"]
    assert means.ttft_ms.mean == 70 and means.ttft_ms.p50 is None and means.labels["ttft_stat"] == "mean"
    assert "requests" in means.missing and means.output_throughput_tok_s == 240.0
    rate = by["Llama-2-7b-hf_ml.g5.12xlarge_vllm_bf16_tp4__r4-poisson"]
    assert rate.level_kind == "rate" and rate.offered_rps == 4.0 and rate.achieved_rps == 3.96
    assert storage.read_meta(study / rate.run_id).config["import"]["row"] == 16


def test_cost_rule_skips_a_cell_without_a_price_and_says_so(tmp_path):
    study, _ = deploybench.import_results([DATA / "vllm-bench-summary.json", DATA / "vllm-bench-detailed.json"],
                                          "vllm-bench", out=tmp_path, name="np", hardware="H100", engine="vllm")
    s = deploybench.load_summaries(study)
    assert all(x.price_per_hour is None and x.cost_per_1m_tokens is None for x in s)  # H100: no catalog price
    (pick,) = deploybench.recommend_picks(s, "cost", max_error_rate=0.5)
    assert pick.run_id is None
    assert any("no price" in line for line in pick.skipped), pick.skipped
    (lat,) = deploybench.recommend_picks(s, "capacity", slo=deploybench.parse_slo("p90_ttft_ms<=500"))
    assert any("r2-poisson: no p90_ttft_ms (vllm-bench does not give it)" in line for line in lat.skipped), lat.skipped


@pytest.mark.parametrize("name, fmt, text, words", [
    ("cut.json", "vllm-bench", (DATA / "vllm-bench-detailed.json").read_text()[:700], ["cut.json", "truncated"]),
    ("empty.json", "guidellm", "", ["empty.json", "is empty"]),
    ("empty.csv", "table", "   \n", ["empty.csv", "is empty"]),
    ("nomodel.csv", "table", "hardware,gpus,engine,precision,tp,input_tokens,output_tokens,concurrency\n"
                             "ml.g5.2xlarge,1,vllm,bf16,1,512,256,4\n", ["nomodel.csv", "column 'model'", "missing"]),
    ("seconds.csv", "table", "model,hardware,gpus,engine,precision,tp,input_tokens,output_tokens,concurrency,ttft_p50_ms\n"
                             "m,ml.g5.2xlarge,1,vllm,bf16,1,512,256,4,0.045\n"
                             "m,ml.g5.2xlarge,1,vllm,bf16,1,512,256,8,0.062\n",
     ["seconds.csv", "row 1, column 'ttft_p50_ms'", "looks like seconds", "x 1000: 45"]),
    ("bad.jsonl", "aiperf", (DATA / "aiperf" / "profile_export.jsonl").read_text().splitlines()[1] + '\n{"metadata": ',
     ["bad.jsonl", "line 2", "truncated"]),
])
def test_bad_files_are_one_line_and_store_nothing(tmp_path, name, fmt, text, words):
    good = DATA / "vllm-bench-summary.json"
    bad = tmp_path / name
    bad.write_text(text)
    if fmt == "aiperf":
        shutil.copy(DATA / "aiperf" / "profile_export_aiperf.json", tmp_path)
    out = tmp_path / "store"
    files = [good, bad] if fmt == "vllm-bench" else [bad]  # a good file before the bad one: still nothing stored
    with pytest.raises(ConfigError) as err:
        deploybench.import_results(files, fmt, out=out, name="x")
    line = err.value.line()
    assert "\n" not in line
    for w in words:
        assert w in line, line
    assert not out.exists() or not any(out.rglob("meta.json"))


def test_a_bad_row_names_file_row_column_and_fix(tmp_path):
    t = tmp_path / "t.csv"
    t.write_text("model,hardware,gpus,engine,precision,tp,input_tokens,output_tokens,concurrency\n"
                 "m,h,1,vllm,bf16,1,512,256,4\nm,h,one,vllm,bf16,1,512,256,8\n")
    with pytest.raises(ConfigError) as err:
        deploybench.import_results([t], "table", out=tmp_path / "o")
    assert err.value.line().startswith(f"{t}: row 2, column 'gpus': 'one' is not a number")
    assert not (tmp_path / "o").exists()


def test_stores_from_before_still_read(tmp_path):
    """A cell written by import-seed before this change (labels.source import-seed, no tool) reads the same."""
    study = deploybench.import_seed(out=tmp_path)
    d = study / "Llama-2-7b-hf_ml.g5.12xlarge_tp4__c1"
    meta = json.loads((d / "meta.json").read_text())
    before = deploybench.load_summaries(study)
    meta["labels"] = {k: v for k, v in meta["labels"].items() if k not in ("tool", "data")} | {"source": "import-seed"}
    (d / "meta.json").write_text(json.dumps(meta))
    after = {s.run_id: s for s in deploybench.load_summaries(study)}
    assert after[d.name].server_ms_per_token == {s.run_id: s for s in before}[d.name].server_ms_per_token
    picks = deploybench.recommend_picks(study, "latency")
    assert [p.run_id for p in picks] == [p.run_id for p in deploybench.recommend_picks(before, "latency")]


def test_capacity_plan_from_imported_data_uses_its_published_rates(tmp_path):
    study, _ = deploybench.import_results([DATA / "published-table.csv"], "table", out=tmp_path, name="t")
    rows, _, _ = deploybench.capacity(study, 5.0, slo="p90_ttft_ms<=500")
    by = {r.deployment: r for r in rows}
    small = by["Llama-2-7b-hf_ml.g5.2xlarge_vllm_bf16_tp1"]  # r1 (p90 80 ms) and r2 (p90 420 ms, 1.97 of 2 req/s)
    assert small.max_rate_rps == 2.0 and small.source.startswith("imported (table)") and small.replicas == 3
    big = by["Llama-2-7b-hf_ml.g5.12xlarge_vllm_bf16_tp4"]  # r4: p90 110 ms, achieved 3.96 of 4
    assert big.max_rate_rps == 4.0 and big.replicas == 2
    assert by["Llama-2-13b-hf_ml.p4d.24xlarge_tensorrt-llm_fp8_tp8"].source == "predicted"  # no rate rows: predicted


def test_rows_of_one_deployment_and_level_with_other_token_shapes_are_workloads_of_their_own(tmp_path):
    """The public GPU table measures each deployment at concurrency 128 with 800 output tokens (its load
    sweep) and again with 1600, 3200 and 6400: those rows get their shape in the deployment name instead
    of colliding with the sweep's c128 cell; rows that do not collide keep the plain name."""
    public = sorted((Path(__file__).resolve().parents[1] / "data" / "public-gpu").glob("*.csv"))
    study, _ = deploybench.import_results(public, "table", out=tmp_path, name="pub")
    cells = {d.name for d in study.iterdir() if d.is_dir()}
    vllm = "DeepSeek-R1_H200-SXM-141GB_vllm_fp8_tp8"
    assert {f"{vllm}__c128", f"{vllm}_in3200-out1600__c128", f"{vllm}_in3200-out6400__c128"} <= cells
    assert not any("405B" in c and "_in" in c for c in cells), sorted(c for c in cells if "405B" in c)
    assert len(cells) == 57
