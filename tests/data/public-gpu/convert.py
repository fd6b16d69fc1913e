"""Convert the dstack public benchmark CSVs (tests/data/public-gpu/original/) into deploybench's table format.

Run from the repository root:  python tests/data/public-gpu/convert.py
Writes tests/data/public-gpu/dstack-gpu-results.csv (one row per measured cell). Standard library only;
README.md in this folder says where the originals come from, their licence and checksums.
"""

from __future__ import annotations

import csv
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "dstack-gpu-results.csv"
R1_SRC = "dstackai/benchmarks@7f37e6697725e58dd09b9ef190b62ce19f01d45e:Deepseek-R1/raw_data/online_results.csv"
L405_SRC = "dstackai/benchmarks@06c957ab51572ca18db9c1f4bb254a9eb86df4d7:comparison/h100sxm5_vs_mi300x/csv_data/qps_comparison.csv"

COLUMNS = ["model", "hardware", "gpus", "engine", "precision", "tp", "pp", "input_tokens", "output_tokens",
           "concurrency", "rate_rps", "engine_version", "engine_settings", "kv_cache_dtype",
           "ttft_p50_ms", "ttft_p99_ms", "ttft_mean_ms", "tpot_p50_ms", "tpot_p99_ms", "tpot_mean_ms",
           "itl_p50_ms", "e2e_p50_ms", "output_tok_s", "request_rps", "requests", "duration_s",
           "dataset", "source", "date"]

GPU = {"h200": "H200-SXM-141GB", "mi300x": "MI300X-192GB", "8xh100": "H100-SXM5-80GB", "8xmi300x": "MI300X-192GB",
       "4xmi300x": "MI300X-192GB"}
ENGINE = {"vllm": "vllm", "sglang": "sglang", "trt-llm": "tensorrt-llm"}
# engine versions and server flags, from the study's README (same commit)
R1_VERSION = {("h200", "sglang"): "0.4.3.post2", ("mi300x", "sglang"): "0.4.2.post4",
              ("h200", "trt-llm"): "0.17.post1.dev", ("h200", "vllm"): "0.7.4.dev181+gf35f8e22",
              ("mi300x", "vllm"): "0.7.3.dev138+g21f6ca217"}
R1_SETTINGS = {("h200", "sglang"): "--tp 8 --enable-dp-attention", ("mi300x", "sglang"): "--tp 8",
               ("h200", "trt-llm"): "pytorch backend, tp 8, ep 4, max_batch_size 512, max_num_tokens 16384",
               ("h200", "vllm"): "--tensor-parallel-size 8, VLLM_ATTENTION_BACKEND=FLASHMLA",
               ("mi300x", "vllm"): "--tensor-parallel-size 8 --max-model-len 32768"}


def _num(v: str, nd: int = 3) -> str:
    v = (v or "").strip()
    return f"{float(v):.{nd}f}".rstrip("0").rstrip(".") if v else ""


def deepseek_r1(path: Path) -> list[dict[str, str]]:
    """8 x H200 / 8 x MI300X, SGLang / vLLM / TensorRT-LLM, fixed-length random prompts, closed loop."""
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            if r["dataset_name"] != "random":  # shared-prefix rows measure prefix caching: left out
                continue
            gpu, eng = r["GPU"].strip().lower(), r["backend"].strip().lower()
            done = int(r["completed"])
            rows.append({
                "model": "deepseek-ai/DeepSeek-R1", "hardware": GPU[gpu], "gpus": "8", "engine": ENGINE[eng],
                "precision": "fp8", "tp": "8", "pp": "1",
                "input_tokens": str(round(int(r["total_input_tokens"]) / done)),
                "output_tokens": str(round(int(r["total_output_tokens"]) / done)),
                "concurrency": r["max_concurrency"], "rate_rps": "",
                "engine_version": R1_VERSION[(gpu, eng)], "engine_settings": R1_SETTINGS[(gpu, eng)],
                "kv_cache_dtype": "",
                "ttft_p50_ms": _num(r["median_ttft_ms"]), "ttft_p99_ms": _num(r["p99_ttft_ms"]),
                "ttft_mean_ms": _num(r["mean_ttft_ms"]), "tpot_p50_ms": _num(r["median_tpot_ms"]),
                "tpot_p99_ms": _num(r["p99_tpot_ms"]), "tpot_mean_ms": _num(r["mean_tpot_ms"]),
                "itl_p50_ms": _num(r["median_itl_ms"]), "e2e_p50_ms": _num(r["median_e2e_latency_ms"]),
                "output_tok_s": _num(r["output_throughput"]), "request_rps": _num(r["request_throughput"], 4),
                "requests": str(done), "duration_s": _num(r["duration"], 1),
                "dataset": f"random {r['random_input_len']}/{r['random_output_len']} (range ratio {r['random_range_ratio']})",
                "source": R1_SRC, "date": "2025-03",
            })
    return rows


def llama_405b(path: Path) -> list[dict[str, str]]:
    """8 x H100 SXM5 / 8 and 4 x MI300X, vLLM, Llama 3.1 405B FP8, ShareGPT prompts at a request rate."""
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        for r in csv.DictReader(f):
            label = " ".join(r["gpu"].split())  # e.g. "8xH100 1FP8-meta", "8xMi300x 1FP8-amd"
            box, variant = label.split(" ", 1)
            if not variant.startswith("1FP8"):  # "2FP8" rows: a setup the study does not describe; left out
                continue
            n = int(box.lower().split("x", 1)[0])
            done = int(r["completed"])
            amd = variant.endswith("-amd")
            flags = (f"num-scheduler-steps {r['num-scheduler-step']}, chunked prefill {r['enable-chunked-prefill'].lower()}, "
                     f"max-num-seqs {r['max-num-seqs']}, max-num-batched-tokens {r['max-num-batched-tokens']}")
            rows.append({
                "model": "amd/Llama-3.1-405B-Instruct-FP8-KV" if amd else "meta-llama/Llama-3.1-405B-Instruct-FP8",
                "hardware": GPU[box.lower()], "gpus": str(n), "engine": "vllm", "precision": "fp8",
                "tp": str(n), "pp": "1",
                "input_tokens": str(round(int(r["total_input_tokens"]) / done)),
                "output_tokens": str(round(int(r["total_output_tokens"]) / done)),
                "concurrency": "", "rate_rps": _num(r["request_rate"]),
                "engine_version": "0.6.3.post2.dev308+gb489fc3c" if box.lower().endswith("h100") else "",
                "engine_settings": flags, "kv_cache_dtype": "fp8" if amd else "",
                "ttft_p50_ms": _num(r["median_ttft_ms"]), "ttft_p99_ms": _num(r["p99_ttft_ms"]),
                "ttft_mean_ms": _num(r["mean_ttft_ms"]), "tpot_p50_ms": _num(r["median_tpot_ms"]),
                "tpot_p99_ms": _num(r["p99_tpot_ms"]), "tpot_mean_ms": _num(r["mean_tpot_ms"]),
                "itl_p50_ms": _num(r["median_itl_ms"]), "e2e_p50_ms": "",
                "output_tok_s": _num(r["output_throughput"]), "request_rps": _num(r["request_throughput"], 4),
                "requests": str(done), "duration_s": _num(r["duration"], 1),
                "dataset": f"sharegpt, {r['num_prompts']} prompts (lengths are the means)",
                "source": L405_SRC, "date": "2024-11",
            })
    return rows


def main(out: Path = OUT) -> None:
    rows = deepseek_r1(HERE / "original" / "deepseek-r1-online_results.csv")
    rows += llama_405b(HERE / "original" / "llama31-405b-qps_comparison.csv")
    with out.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    print(f"{out}: {len(rows)} rows")


if __name__ == "__main__":
    main()
