"""Ray LLMPerf ``token_benchmark_ray.py`` results: ``<name>_summary.json`` and ``<name>_individual_responses.json``.

Schema read (``ray-project/llmperf`` ``token_benchmark_ray.py``, ``src/llmperf/common_metrics.py``,
``src/llmperf/utils.py``). The summary is one flat object (``LLMPerfResults.to_dict`` joins nested
keys with ``_``): ``version`` (results format, ``2023-08-31``), ``model``, ``mean_input_tokens``,
``mean_output_tokens``, ``num_concurrent_requests``, ``results_<metric>_quantiles_p25..p99``,
``results_<metric>_mean|min|max|stddev`` for ``ttft_s``, ``inter_token_latency_s``,
``end_to_end_latency_s``, ``number_output_tokens``, plus ``results_mean_output_throughput_token_per_s``
(output tokens of successful requests / test wall time), ``results_num_completed_requests``,
``results_num_requests_started``, ``results_number_errors``. The individual responses are a list of
per-request objects with ``ttft_s``, ``end_to_end_latency_s``, ``inter_token_latency_s``,
``number_input_tokens``, ``number_output_tokens``, ``error_code``, ``error_msg`` and no start times:
records are relative to their own start and the window comes from the summary (docs/import.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cell import NS, ImportedCell, ToolWindow, bad, closed, dist_from, error_text, number, read_json, record

TOOL = "llmperf"
FIX = "give the *_summary.json or *_individual_responses.json that token_benchmark_ray.py wrote"
DEFINITIONS = ("TTFT from just before the request to the first chunk; its inter_token_latency_s = (sum of all chunk "
               "gaps, TTFT included) / output tokens, about E2E / tokens (deploybench's client ms/token, not "
               "its TPOT); output tokens counted with its tokenizer on the text")
SUFFIXES = ("_individual_responses.json", "_summary.json")


def read(path: Path) -> list[ImportedCell]:
    if path.name.endswith(SUFFIXES[0]):
        summary_path = path.with_name(path.name[: -len(SUFFIXES[0])] + SUFFIXES[1])
        if not summary_path.is_file():
            raise bad(path, "", f"has no summary beside it ({summary_path.name}): its window and load level "
                      "are there", "keep both files of the run together")
        cell = _from_summary(summary_path, read_json(summary_path, FIX), per_request=True)
        cell.source = path
        _records(path, read_json(path, FIX), cell)
        return [cell]
    return [_from_summary(path, read_json(path, FIX), per_request=False)]


def _from_summary(path: Path, data: Any, per_request: bool) -> ImportedCell:
    if not isinstance(data, dict) or "results_mean_output_throughput_token_per_s" not in data:
        raise bad(path, "", "is not an LLMPerf summary (no results_mean_output_throughput_token_per_s)", FIX)
    users = int(number(path, "num_concurrent_requests", data.get("num_concurrent_requests"), FIX, minimum=1,
                       whole=True))
    tput = number(path, "results_mean_output_throughput_token_per_s",
                  data["results_mean_output_throughput_token_per_s"], FIX)
    done = int(number(path, "results_num_completed_requests", data.get("results_num_completed_requests"), FIX,
                      whole=True))
    out_mean = data.get("results_number_output_tokens_mean")
    tokens = int(round(out_mean * done)) if isinstance(out_mean, (int, float)) else None
    window = tokens / tput if tokens and tput > 0 else None
    cell = ImportedCell(tool=TOOL, source=path, level=closed(users), tool_version=_version(data),
                        facts={"model": data.get("model")}, definitions=DEFINITIONS,
                        external={k: v for k, v in data.items() if not isinstance(v, (dict, list))})
    cell.tool_window = ToolWindow(
        window_s=window, output_tokens=tokens, output_tok_s=tput,
        request_rps=done / window if window else None,
        basis="LLMPerf's own: output tokens of successful requests / test wall time "
              "(results_mean_output_throughput_token_per_s); window = those tokens / that rate")
    if not per_request:
        _summary_figures(path, data, done, cell)
    return cell


def _version(data: dict) -> str | None:
    v = data.get("version")
    return f"results format {v}" if v else None


def _stats(data: dict, metric: str) -> dict[str, float | None]:
    q = {f"p{p}": data.get(f"results_{metric}_quantiles_p{p}") for p in (50, 90, 95, 99)}
    q["mean"] = data.get(f"results_{metric}_mean")
    return {k: v * 1000.0 for k, v in q.items() if isinstance(v, (int, float))}


def _summary_figures(path: Path, data: dict, done: int, cell: ImportedCell) -> None:
    errs = int(number(path, "results_number_errors", data.get("results_number_errors", 0), FIX, whole=True))
    figures: dict[str, Any] = {"requests": done + errs, "completed": done, "errors": errs}
    missing = ["tpot_ms", "itl_ms", "ms_per_token", "schedule_lag_ms"]
    for metric, field in (("ttft_s", "ttft_ms"), ("end_to_end_latency_s", "e2e_ms")):
        d = dist_from(_stats(data, metric), done)
        if d.n:
            figures[field] = d
        else:
            missing.append(field)
    cell.figures, cell.missing = figures, missing


def _records(path: Path, data: Any, cell: ImportedCell) -> None:
    if not isinstance(data, list):
        raise bad(path, "", "is not a list of responses", FIX)
    recs = []
    for i, r in enumerate(data):
        where = f"response {i}"
        if not isinstance(r, dict):
            raise bad(path, where, "is not an object", FIX)
        if r.get("error_code") is not None or r.get("error_msg"):
            code = r.get("error_code")
            text = f"HTTP {code}: {r.get('error_msg') or ''}" if isinstance(code, int) else r.get("error_msg")
            recs.append(record(i, 0, [], None, 0, input_tokens=r.get("number_input_tokens"),
                               error=error_text(text or "error"), relative=True))
            continue
        recs.append(_ok(path, where, i, r))
    cell.records, cell.relative_time = recs, True
    cell.missing = ["schedule_lag_ms", "itl_ms (per gap)"]


def _ok(path: Path, where: str, i: int, r: dict):
    ttft = number(path, f"{where} ttft_s", r.get("ttft_s"), FIX)
    e2e = number(path, f"{where} end_to_end_latency_s", r.get("end_to_end_latency_s"), FIX)
    out = int(number(path, f"{where} number_output_tokens", r.get("number_output_tokens"), FIX, whole=True))
    itl = number(path, f"{where} inter_token_latency_s", r.get("inter_token_latency_s"), FIX)
    chunks = [int(round(ttft * NS))]
    last = itl * out  # LLMPerf: sum of every chunk gap (TTFT included) / tokens -> the last chunk's time
    if out > 1 and last > ttft:
        chunks.append(int(round(min(last, e2e) * NS)))
    return record(i, 0, chunks, out, int(round(e2e * NS)), input_tokens=r.get("number_input_tokens"), relative=True)

