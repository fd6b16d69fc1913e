"""``vllm bench serve --save-result`` (and ``benchmarks/benchmark_serving.py``) result JSON.

Schema read (vLLM ``vllm/benchmarks/serve.py``, ``main_async`` and ``benchmark``): one JSON object per
run with ``date``, ``backend``, ``model_id``, ``tokenizer_id``, ``num_prompts``, ``request_rate``
(a number or ``"inf"``), ``burstiness``, ``max_concurrency``, ``duration`` (s), ``completed``,
``failed``, ``total_input_tokens``, ``total_output_tokens``, ``request_throughput``,
``output_throughput`` and ``{mean,median,std,p<N>}_{ttft,tpot,itl,e2el}_ms``. With
``--save-detailed`` also per request, in send order: ``start_times`` (``time.perf_counter()`` at send,
one clock for the run), ``ttfts`` (s), ``itls`` (list of s, one gap per streamed chunk after the
first), ``latencies`` (s, send to the last chunk), ``input_lens``, ``output_lens`` (0 for a failed
request) and ``errors`` (``""`` when it succeeded). See docs/import.md for how each maps.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .cell import NS, ImportedCell, ToolWindow, bad, closed, dist_from, error_text, number, rate, read_json, record

TOOL = "vllm-bench"
FIX = "give the JSON that `vllm bench serve --save-result [--save-detailed]` wrote"
DETAIL = ("ttfts", "itls", "input_lens", "output_lens", "errors")
DEFINITIONS = ("TTFT from the client's perf_counter before the POST (connection set-up included) to the first "
               "chunk with text; ITL = gap between chunks (a chunk of k tokens is one gap); TPOT = (latency - "
               "TTFT) / (output tokens - 1) with latency to the last chunk; output tokens from server usage, "
               "else its tokenizer")


def read(path: Path) -> list[ImportedCell]:
    data = read_json(path, FIX)
    if not isinstance(data, dict) or "completed" not in data or "duration" not in data:
        raise bad(path, "", "is not a vllm bench serve result (no 'completed' / 'duration' keys)", FIX)
    cell = ImportedCell(tool=TOOL, source=path, level=_level(path, data), tool_version=data.get("vllm_version"),
                        facts={"model": data.get("model_id")}, definitions=DEFINITIONS,
                        external=_own_figures(data))
    if all(k in data for k in DETAIL):
        _records(path, data, cell)
    else:
        _summary_only(path, data, cell)
    return [cell]


def _level(path: Path, data: dict):
    rr, mc = data.get("request_rate", "inf"), data.get("max_concurrency")
    if mc is not None:
        number(path, "max_concurrency", mc, FIX, minimum=1, whole=True)
    if rr in ("inf", None) or (isinstance(rr, float) and math.isinf(rr)):
        users = mc or data.get("num_prompts")  # no limit and no rate: every request at once
        if users is None:
            raise bad(path, "max_concurrency", "neither a concurrency nor a request rate is given", FIX)
        return closed(int(number(path, "num_prompts", users, FIX, minimum=1, whole=True)))
    rps = number(path, "request_rate", rr, FIX, minimum=1e-9)
    burst = float(data.get("burstiness") or 1.0)
    if burst == 1.0:
        return rate(rps, "poisson")
    return rate(rps, "gamma", 1 / math.sqrt(burst)) if math.isfinite(burst) else rate(rps, "constant")


def _own_figures(data: dict) -> dict[str, Any]:
    keep = ("date", "backend", "model_id", "tokenizer_id", "num_prompts", "request_rate", "burstiness",
            "max_concurrency", "duration", "completed", "failed", "total_input_tokens", "total_output_tokens",
            "request_throughput", "output_throughput", "total_token_throughput")
    own = {k: data[k] for k in keep if k in data}
    own.update({k: v for k, v in data.items() if k.endswith("_ms") and isinstance(v, (int, float))})
    return own


def _records(path: Path, data: dict, cell: ImportedCell) -> None:
    n = len(data["ttfts"])
    for key in (*DETAIL, "latencies", "start_times"):
        if key in data and (not isinstance(data[key], list) or len(data[key]) != n):
            raise bad(path, key, f"holds {len(data[key]) if isinstance(data[key], list) else 'no list'} entries, "
                      f"ttfts holds {n}", FIX)
    starts = data.get("start_times")
    cell.relative_time = starts is None
    if "latencies" not in data:
        raise bad(path, "latencies", "missing beside ttfts", FIX)
    recs = []
    for i in range(n):
        where = f"request {i}"
        t0 = 0 if starts is None else int(round(number(path, f"start_times[{i}]", starts[i], FIX) * NS))
        err = data["errors"][i]
        if err:
            recs.append(record(i, t0, [], None, t0, input_tokens=data["input_lens"][i], error=error_text(err),
                               relative=cell.relative_time))
            continue
        ttft = number(path, f"ttfts[{i}]", data["ttfts"][i], FIX)
        latency = number(path, f"latencies[{i}]", data["latencies"][i], FIX)
        chunks, t = [t0 + int(round(ttft * NS))], ttft
        for gap in data["itls"][i]:
            t += number(path, f"{where} itls", gap, FIX)
            chunks.append(t0 + int(round(t * NS)))
        out = int(number(path, f"output_lens[{i}]", data["output_lens"][i], FIX, whole=True))
        recs.append(record(i, t0, chunks, out, t0 + int(round(latency * NS)), input_tokens=data["input_lens"][i],
                           relative=cell.relative_time))
    cell.records = recs
    if cell.relative_time:
        cell.tool_window = _window(path, data)
    cell.missing = ["schedule_lag_ms"]


def _window(path: Path, data: dict) -> ToolWindow:
    dur = number(path, "duration", data["duration"], FIX, minimum=1e-9)
    return ToolWindow(window_s=dur, output_tokens=data.get("total_output_tokens"),
                      output_tok_s=data.get("output_throughput"), request_rps=data.get("request_throughput"),
                      basis="vLLM's own: total output tokens / duration (s), duration from just before the "
                            "first request to the last completion")


def _stat(data: dict, metric: str) -> dict[str, float | None]:
    return {"mean": data.get(f"mean_{metric}_ms"), "p50": data.get(f"median_{metric}_ms"),
            "p90": data.get(f"p90_{metric}_ms"), "p95": data.get(f"p95_{metric}_ms"),
            "p99": data.get(f"p99_{metric}_ms")}


def _summary_only(path: Path, data: dict, cell: ImportedCell) -> None:
    done = int(number(path, "completed", data["completed"], FIX, whole=True))
    failed = int(number(path, "failed", data.get("failed", 0), FIX, whole=True))
    cell.tool_window = _window(path, data)
    figures: dict[str, Any] = {"requests": done + failed, "completed": done, "errors": failed}
    missing = ["ms_per_token", "schedule_lag_ms"]
    for metric, name in (("ttft", "ttft_ms"), ("tpot", "tpot_ms"), ("itl", "itl_ms"), ("e2el", "e2e_ms")):
        d = dist_from(_stat(data, metric), done)
        if d.n:
            figures[name] = d
        else:
            missing.append(name)
    cell.figures, cell.missing = figures, missing
