"""NVIDIA AIPerf exports: ``profile_export.jsonl`` (one record per request) and ``profile_export_aiperf.json``.

Schema read (AIPerf ``docs/tutorials/working-with-profile-exports.md``,
``aiperf/common/models/record_models.py`` and ``export_models.py``). A JSONL line is
``{"metadata": {..., "request_start_ns", "request_end_ns", "benchmark_phase", "was_cancelled"},
"metrics": {name: {"value", "unit"}}, "error": null | {"code", "type", "message"}}`` with
``request_start_ns`` in Unix ns and the metrics ``time_to_first_token`` (ms), ``inter_chunk_latency``
(list of ms), ``request_latency`` (ms), ``output_sequence_length`` and ``input_sequence_length``
(tokens). The aggregate JSON holds one ``{"unit", "avg", "p50", "p90", ...}`` block per metric
(``time_to_first_token``, ``inter_token_latency``, ``request_latency``, ``output_token_throughput``,
``request_throughput``, ``request_count``, ``error_request_count``, ``benchmark_duration``) and the run's
``input_config`` (``loadgen.concurrency`` / ``loadgen.request_rate``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .cell import (ImportedCell, ToolWindow, bad, closed, dist_from, error_text, number, rate, read_json,
                   read_text, record)

TOOL = "aiperf"
FIX = "give profile_export.jsonl (per request) or profile_export_aiperf.json (aggregate) from an AIPerf run"
SUMMARY_NAME = "profile_export_aiperf.json"
DEFINITIONS = ("TTFT from request start to the first response chunk with content; its inter_token_latency = "
               "(request latency - TTFT) / (output tokens - 1) = deploybench's TPOT; inter_chunk_latency = gaps "
               "between chunks; output tokens from its tokenizer")
UNIT_MS = {"ms": 1.0, "sec": 1000.0, "s": 1000.0, "ns": 1e-6, "us": 1e-3}


def read(path: Path) -> list[ImportedCell]:
    if path.suffix == ".jsonl":
        return [_from_records(path)]
    data = read_json(path, FIX)
    if not isinstance(data, dict) or "request_latency" not in data and "time_to_first_token" not in data:
        raise bad(path, "", "is not an AIPerf aggregate export (no request_latency block)", FIX)
    return [_from_summary(path, data)]


def _level(path: Path, config: dict | None):
    loadgen = ((config or {}).get("loadgen") or {})
    rr, conc = loadgen.get("request_rate"), loadgen.get("concurrency")
    if rr:
        return rate(number(path, "input_config.loadgen.request_rate", rr, FIX, minimum=1e-9),
                    "constant" if loadgen.get("request_rate_mode") == "constant" else "poisson")
    if conc:
        return closed(int(number(path, "input_config.loadgen.concurrency", conc, FIX, minimum=1, whole=True)))
    raise bad(path, "input_config.loadgen", "says neither a concurrency nor a request rate",
              f"keep {SUMMARY_NAME} beside the JSONL (it holds the run's load settings)")


def _model(config: dict | None) -> str | None:
    names = (((config or {}).get("endpoint") or {}).get("model_names") or [])
    return names[0] if names else None


def _value(path: Path, where: str, metrics: dict, name: str, optional: bool = False) -> Any:
    m = metrics.get(name)
    if m is None:
        if optional:
            return None
        raise bad(path, where, f"record has no {name}", FIX)
    v = m.get("value") if isinstance(m, dict) else None
    if isinstance(v, list):
        return [_ms(path, f"{where} {name}", x, m.get("unit")) for x in v]
    unit = m.get("unit") if isinstance(m, dict) else None
    if unit in UNIT_MS:
        return _ms(path, f"{where} {name}", v, unit)
    return number(path, f"{where} {name}", v, FIX)


def _ms(path: Path, where: str, v: Any, unit: str | None) -> float:
    return float(number(path, where, v, FIX)) * UNIT_MS.get(unit or "ms", 1.0)


def _from_records(path: Path) -> ImportedCell:
    text = read_text(path, FIX)
    side = path.with_name(SUMMARY_NAME)
    config = (read_json(side, FIX).get("input_config") if side.is_file() else None)
    cell = ImportedCell(tool=TOOL, source=path, level=_level(path, config), facts={"model": _model(config)},
                        definitions=DEFINITIONS)
    recs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            raise bad(path, f"line {n}", "is not a JSON object (truncated?)", FIX) from None
        recs.append(_record(path, f"line {n}", len(recs), obj))
    cell.records, cell.missing = recs, ["schedule_lag_ms"]
    return cell


def _record(path: Path, where: str, index: int, obj: Any):
    if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
        raise bad(path, where, "has no metadata object", FIX)
    meta, metrics = obj["metadata"], obj.get("metrics") or {}
    t0 = int(number(path, f"{where} request_start_ns", meta.get("request_start_ns"), FIX, whole=True))
    end = meta.get("request_end_ns") or t0
    warm = meta.get("benchmark_phase") == "warmup"
    isl = metrics.get("input_sequence_length", {}).get("value") if isinstance(metrics, dict) else None
    if obj.get("error"):
        e = obj["error"]
        text = f"HTTP {e.get('code')} {e.get('type', '')}: {e.get('message', '')}" if isinstance(e, dict) else e
        return record(index, t0, [], None, int(end), input_tokens=isl, error=error_text(text), warmup=warm)
    ttft = _value(path, where, metrics, "time_to_first_token")
    gaps = _value(path, where, metrics, "inter_chunk_latency", optional=True) or []
    latency = _value(path, where, metrics, "request_latency")
    out = int(number(path, f"{where} output_sequence_length",
                     (metrics.get("output_sequence_length") or {}).get("value"), FIX, whole=True))
    t, chunks = ttft, [t0 + int(round(ttft * 1e6))]
    for g in gaps:
        t += g
        chunks.append(t0 + int(round(t * 1e6)))
    return record(index, t0, chunks, out, t0 + int(round(latency * 1e6)), input_tokens=isl, warmup=warm)


def _stats(block: dict | None) -> dict[str, float | None]:
    if not isinstance(block, dict):
        return {}
    f = UNIT_MS.get(block.get("unit", "ms"), 1.0)
    return {k: (block[k] * f if isinstance(block.get(k), (int, float)) else None)
            for k in ("p50", "p90", "p95", "p99", "min", "max") if k in block} | (
        {"mean": block["avg"] * f} if isinstance(block.get("avg"), (int, float)) else {})


def _avg(data: dict, name: str) -> float | None:
    v = (data.get(name) or {}).get("avg")
    return float(v) if isinstance(v, (int, float)) else None


def _from_summary(path: Path, data: dict) -> ImportedCell:
    config = data.get("input_config")
    done = int(_avg(data, "request_count") or 0)
    errs = int(_avg(data, "error_request_count") or 0)
    dur = _avg(data, "benchmark_duration")
    unit = (data.get("benchmark_duration") or {}).get("unit")
    dur_s = None if dur is None else dur * UNIT_MS.get(unit or "sec", 1000.0) / 1000.0
    cell = ImportedCell(tool=TOOL, source=path, level=_level(path, config), facts={"model": _model(config)},
                        definitions=DEFINITIONS, external={k: v for k, v in data.items() if k != "input_config"})
    cell.tool_window = ToolWindow(window_s=dur_s, output_tokens=int(_avg(data, "total_output_tokens") or 0) or None,
                                  output_tok_s=_avg(data, "output_token_throughput"),
                                  request_rps=_avg(data, "request_throughput"),
                                  basis="AIPerf's own: output tokens / benchmark duration (first request to last "
                                        "response)")
    figures: dict[str, Any] = {"requests": done + errs, "completed": done, "errors": errs}
    missing = ["itl_ms", "ms_per_token", "schedule_lag_ms"]
    for name, field in (("time_to_first_token", "ttft_ms"), ("inter_token_latency", "tpot_ms"),
                        ("request_latency", "e2e_ms")):
        d = dist_from(_stats(data.get(name)), done)
        if d.n:
            figures[field] = d
        else:
            missing.append(field)
    cell.figures, cell.missing = figures, missing
    return cell
