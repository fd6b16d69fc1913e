"""GuideLLM benchmarks report (``guidellm benchmark ... --output-path benchmarks.json``, 0.4 - 0.8).

Schema read (GuideLLM ``benchmark/schemas/generative/report.py``, ``.../benchmark.py``,
``schemas/request_stats.py``, ``schemas/info.py``): ``{"args": ..., "benchmarks": [...]}``; each
benchmark has ``config.strategy`` (``type_``: synchronous, concurrent with ``streams``, throughput
with ``max_concurrency``, constant / poisson with ``rate``), ``start_time`` / ``end_time`` (Unix s,
the measured phase), ``metrics`` (``request_totals``, ``output_token_count``, ... each split into
successful / errored / incomplete / total, with ``mean``, ``median``, ``percentiles`` ...) and
``requests`` = ``{successful, errored, incomplete}`` lists of request stats: ``info.timings``
(``request_start``, ``first_token_iteration``, ``last_token_iteration``, ``token_iterations``,
``request_end``, Unix s), ``info.error``, and computed ``prompt_tokens`` / ``output_tokens``.
GuideLLM keeps only a sample of the requests (``config.sample_requests``, default 20): when fewer
records than completed requests are stored, window figures come from its metrics (docs/import.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cell import NS, ImportedCell, ToolWindow, bad, closed, error_text, number, rate, read_json, record

TOOL = "guidellm"
FIX = "give the benchmarks.json that `guidellm benchmark --output-path ...` wrote"
DEFINITIONS = ("TTFT from request_start (the backend starting the HTTP request) to the first token iteration; "
               "its inter_token_latency_ms = (last - first token) / (output tokens - 1) = deploybench's TPOT; its "
               "time_per_output_token_ms = (last token - request start) / output tokens, TTFT included (not "
               "deploybench's TPOT); only first and last token times are stored, so ITL is each request's mean gap")


def read(path: Path) -> list[ImportedCell]:
    data = read_json(path, FIX)
    benches = data.get("benchmarks") if isinstance(data, dict) else None
    if not isinstance(benches, list) or not benches:
        raise bad(path, "benchmarks", "no benchmarks list in the report", FIX)
    version = (data.get("metadata") or {}).get("guidellm_version") if isinstance(data.get("metadata"), dict) else None
    model = _model(data)
    return [_cell(path, i, b, version, model) for i, b in enumerate(benches)]


def _model(data: dict) -> str | None:
    args = data.get("args") or {}
    backend = args.get("backend_kwargs") or args.get("backend") or {}
    return args.get("model") or (backend.get("model") if isinstance(backend, dict) else None)


def _level(path: Path, where: str, strategy: dict):
    kind = strategy.get("type_")
    if kind == "synchronous":
        return closed(1)
    if kind == "concurrent":
        return closed(int(number(path, f"{where}.streams", strategy.get("streams"), FIX, minimum=1, whole=True)))
    if kind == "throughput" and strategy.get("max_concurrency"):
        return closed(int(number(path, f"{where}.max_concurrency", strategy["max_concurrency"], FIX, minimum=1,
                                 whole=True)))
    if kind in ("constant", "poisson"):
        return rate(number(path, f"{where}.rate", strategy.get("rate"), FIX, minimum=1e-9), kind)
    raise bad(path, f"{where}.type_", f"strategy {kind!r} has no deploybench load level",
              "import benchmarks run with synchronous, concurrent, throughput (max_concurrency), constant or poisson")


def _cell(path: Path, i: int, b: Any, version: str | None, model: str | None) -> ImportedCell:
    where = f"benchmarks[{i}]"
    if not isinstance(b, dict) or not isinstance(b.get("requests"), dict):
        raise bad(path, where, "has no requests (successful / errored / incomplete)", FIX)
    level = _level(path, f"{where}.config.strategy", (b.get("config") or {}).get("strategy") or {})
    start = number(path, f"{where}.start_time", b.get("start_time"), FIX)
    end = number(path, f"{where}.end_time", b.get("end_time"), FIX, minimum=start)
    cell = ImportedCell(tool=TOOL, source=path, level=level, tool_version=version, facts={"model": model},
                        definitions=DEFINITIONS, window_ns=(int(start * NS), int(end * NS)),
                        external=_own_figures(b))
    recs = []
    for status in ("successful", "errored", "incomplete"):
        for j, r in enumerate(b["requests"].get(status) or []):
            recs.append(_record(path, f"{where}.requests.{status}[{j}]", len(recs), r, status))
    cell.records = recs
    cell.missing = ["schedule_lag_ms", "itl_ms (per gap)"]
    totals = ((b.get("metrics") or {}).get("request_totals") or {})
    done = totals.get("successful")
    if isinstance(done, (int, float)) and done > sum(1 for r in recs if r.error is None):
        cell.tool_window = _window(path, where, b, end - start)
    return cell


def _record(path: Path, where: str, index: int, r: Any, status: str):
    timings = ((r.get("info") or {}).get("timings") or {}) if isinstance(r, dict) else {}
    t0 = timings.get("request_start") or timings.get("resolve_start")
    t0 = number(path, f"{where}.info.timings.request_start", t0, FIX)
    end = timings.get("request_end") or timings.get("resolve_end") or t0
    end = number(path, f"{where}.info.timings.request_end", end, FIX)
    first, last = timings.get("first_token_iteration"), timings.get("last_token_iteration")
    out = r.get("output_tokens")
    ns = lambda t: int(round(t * NS))  # noqa: E731
    if status != "successful":
        why = (r.get("info") or {}).get("error") or ("cancelled: incomplete at the benchmark's end"
                                                     if status == "incomplete" else "error")
        return record(index, ns(t0), [], None, ns(end), input_tokens=r.get("prompt_tokens"), error=error_text(why))
    out = int(number(path, f"{where}.output_tokens", out, FIX, whole=True))
    chunks = []
    if first is not None:
        chunks.append(ns(number(path, f"{where}.first_token_iteration", first, FIX, minimum=t0)))
        if last is not None and out > 1 and last > first:
            chunks.append(ns(number(path, f"{where}.last_token_iteration", last, FIX)))
    return record(index, ns(t0), chunks, out, ns(end), input_tokens=r.get("prompt_tokens"))


def _window(path: Path, where: str, b: dict, duration: float) -> ToolWindow:
    m = b.get("metrics") or {}
    total = ((m.get("output_token_count") or {}).get("successful") or {}).get("total_sum")
    done = (m.get("request_totals") or {}).get("successful")
    out = int(total) if isinstance(total, (int, float)) else None
    return ToolWindow(window_s=duration, output_tokens=out,
                      output_tok_s=out / duration if out is not None and duration > 0 else None,
                      request_rps=done / duration if isinstance(done, (int, float)) and duration > 0 else None,
                      basis="GuideLLM's metrics: successful output tokens (output_token_count.successful.total_sum) "
                            "and requests (request_totals.successful) / (end_time - start_time); its stored "
                            "requests are a sample")


def _own_figures(b: dict) -> dict[str, Any]:
    m = b.get("metrics") or {}
    own: dict[str, Any] = {"start_time": b.get("start_time"), "end_time": b.get("end_time"),
                           "request_totals": m.get("request_totals")}
    for name in ("time_to_first_token_ms", "inter_token_latency_ms", "time_per_output_token_ms",
                 "request_latency", "output_tokens_per_second", "requests_per_second"):
        ok = ((m.get(name) or {}).get("successful") or {})
        if ok:
            own[name] = {k: ok.get(k) for k in ("mean", "median") if k in ok}
    return own
