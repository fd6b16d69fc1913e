"""Table definitions shared by every output format (Markdown, CSV, XLSX, HTML, JSON).

A table is a list of :class:`Column`; each column reads one value from a row object and knows how
to print it. Formats only decide how to lay the values out, so a number means the same in each.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .. import metrics
from ..schemas import RequestRecord
from .data import Cell
from .quality import cell_columns as quality_columns
from .render.columns import Column, fmt_value
from .roofline import of_cell


def _d(metric: str, stat: str) -> Callable[[Cell], float | None]:
    return lambda c: getattr(getattr(c.summary, metric), stat)


def _s(attr: str) -> Callable[[Cell], Any]:
    return lambda c: getattr(c.summary, attr)


def _iv(key: str, end: str) -> Callable[[Cell], float | None]:
    """One end ("lo"/"hi") of a stored 95 % interval (docs/metrics.md, "Intervals")."""
    return lambda c: getattr(c.summary.intervals.get(key), end, None)


INTERVAL_COLUMNS = (("output_tok_s", "output tok/s", "output_throughput_tok_s", "{:.1f}"),
                    ("ttft_p50", "TTFT p50", "ttft_ms.p50", "{:.1f}"),
                    ("ms_per_token_p50", "ms/token p50", "ms_per_token.p50", "{:.2f}"),
                    ("cost_per_1m_tokens", "$ per 1M tok", "cost_per_1m_tokens", "{:.3f}"))


def _bound(rf) -> str | None:
    """The bound, and for a CPU cell beyond numpy's peak why its share is empty."""
    if rf is None:
        return None
    return f"{rf.bound} ({rf.label})" if rf.beyond_peak else rf.bound


def _srv(name: str, stat: str) -> Callable[[Cell], float | None]:
    """The engine's own /metrics figure (mean/max inside the window), if it was scraped."""
    return lambda c: (c.summary.server.get(name) or {}).get(stat)


def _split(part: str) -> Callable[[Cell], float | None]:
    """The p50 of one part of a cell's TTFT split (docs/metrics.md, "Where time to first token goes")."""
    return lambda c: getattr(c.summary.ttft_split_ms.get(part), "p50", None)


SPLIT_PARTS = (("schedule", "schedule"), ("connect_new", "connect (new)"), ("connect_pooled", "connect (pooled)"),
               ("write", "write"), ("headers", "headers"), ("first_token", "first token"))

# --------------------------------------------------------------------------- where time to first token goes

TTFT_SPLIT_COLUMNS: list[Column] = [
    Column("deployment", "deployment", lambda c: c.deployment),
    Column("level", "level", lambda c: c.summary.level or f"c{c.concurrency}"),
    Column("ttft_p50", "TTFT p50", _d("ttft_ms", "p50"), "{:.1f}"),
    *[Column(f"ttft_split_{k}_p50", f"{t} p50", _split(k), "{:.2f}") for k, t in SPLIT_PARTS],
    Column("connections_new", "new connections", lambda c: c.summary.connections.get("new"), "{:d}"),
    Column("connections_pooled", "pooled", lambda c: c.summary.connections.get("pooled"), "{:d}"),
]
TTFT_SPLIT_NOTE = ("Where time to first token goes, p50 of each part in ms, from the request's due time: "
                   "schedule = began late; connect = a new TCP connection or a pooled one taken; write = request "
                   "written; headers = until the answer's head was read; first token = from the head to the first "
                   "token. schedule + connect + write = schedule lag, headers + first token = TTFT (per request; "
                   "p50s of parts do not add up exactly).")


def split_cells(cells: Sequence[Cell]) -> list[Cell]:
    """Cells that have a TTFT split (records from before it, and imported cells, have none)."""
    return [c for c in cells if c.summary.ttft_split_ms]


# --------------------------------------------------------------------------- per-cell table

CELL_COLUMNS: list[Column] = [
    Column("deployment", "deployment", lambda c: c.deployment),
    Column("model", "model", lambda c: c.model),
    Column("quantization", "quantization", lambda c: c.quantization),
    Column("hardware", "hardware", lambda c: c.hardware),
    Column("engine", "engine", lambda c: c.engine),
    Column("concurrency", "concurrency", lambda c: c.concurrency, "{:d}"),
    Column("level", "level", lambda c: c.summary.level or f"c{c.concurrency}"),
    Column("offered_rps", "offered req/s", _s("offered_rps"), "{:.3f}"),
    Column("requests", "requests", _s("requests"), "{:d}"),
    Column("errors", "errors", _s("errors"), "{:d}"),
    Column("error_rate", "error %", lambda c: 100.0 * c.summary.error_rate, "{:.1f}"),
    *[Column(f"{m}_{p}", f"{t} {p}", _d(f"{m}_ms", p), "{:.1f}")
      for m, t in (("ttft", "TTFT"), ("tpot", "TPOT"), ("e2e", "E2E")) for p in ("p50", "p90", "p99")],
    Column("ms_per_token_p50", "ms/token p50", _d("ms_per_token", "p50"), "{:.2f}"),
    Column("roofline_pct", "% of roofline", lambda c: getattr(of_cell(c), "share", None), "{:.0f}"),
    Column("roofline_bound", "roofline bound", lambda c: _bound(of_cell(c))),
    Column("output_tok_s", "output tok/s", _s("output_throughput_tok_s"), "{:.1f}"),
    Column("request_rps", "req/s", _s("request_throughput_rps"), "{:.3f}"),
    Column("goodput_rps", "goodput req/s", _s("goodput_rps"), "{:.3f}"),
    Column("slo_attainment", "SLO met %", lambda c: None if c.summary.slo_attainment is None
           else 100.0 * c.summary.slo_attainment, "{:.1f}"),
    Column("dropped", "dropped", _s("dropped"), "{:d}"),
    Column("price_per_hour", "$/hour", _s("price_per_hour"), "{:.3f}"),
    Column("minutes_per_1m_tokens", "min per 1M tok", _s("minutes_per_1m_tokens"), "{:.1f}"),
    Column("cost_per_1m_tokens", "$ per 1M tok", _s("cost_per_1m_tokens"), "{:.3f}"),
    Column("server_running_mean", "server running (mean)", _srv("requests_running", "mean"), "{:.2f}"),
    Column("server_waiting_max", "server queue (max)", _srv("requests_waiting", "max"), "{:.0f}"),
    Column("server_kv_max", "server KV use (max)", _srv("kv_cache_usage", "max"), "{:.2f}"),
    Column("server_tok_s", "server tok/s", _srv("tokens_per_s", "mean"), "{:.1f}"),
    Column("records", "records", lambda c: "yes" if c.has_records else "no (summary only)"),
    Column("client_lagged", "client lagged", _s("client_lagged")),
    *[Column(f"ttft_split_{k}_p50", f"TTFT split: {t} p50", _split(k), "{:.2f}") for k, t in SPLIT_PARTS],
    *[Column(f"{k}_{end}", f"{t} 95% {end}", _iv(ik, end), f)
      for k, t, ik, f in INTERVAL_COLUMNS for end in ("lo", "hi")],
    Column("flags", "flags", lambda c: ", ".join(c.summary.flags) or "—"),
    Column("rounds", "rounds", _s("trials"), "{:d}"),
    Column("round_design", "round design", lambda c: c.summary.round_design or None),
    *quality_columns(Column),
    Column("run_id", "run", lambda c: c.run_id),
]

# --------------------------------------------------------------------------- the 2023 study's columns

STUDY_COLUMNS: list[Column] = [
    Column("model", "Model", lambda r: r.cell.model),
    Column("quantization", "Quantization", lambda r: r.cell.quantization),
    Column("hardware", "Instance / hardware", lambda r: r.cell.hardware),
    Column("concurrency", "Concurrent requests", lambda r: r.cell.concurrency, "{:d}"),
    Column("ms_per_token_p50", "Median ms/token", lambda r: r.ms_per_token, "{:.2f}"),
    Column("tokens_per_s", "Tokens/s", lambda r: r.tokens_per_s, "{:.1f}"),
    Column("price_per_hour", "$/hour", lambda r: r.price_per_hour, "{:.3f}"),
    Column("minutes_per_1m_tokens", "Minutes to generate 1M tokens", lambda r: r.minutes_per_1m, "{:.1f}"),
    Column("cost_per_1m_tokens", "$ to generate 1M tokens", lambda r: r.cost_per_1m, "{:.2f}"),
    Column("deployment", "Deployment", lambda r: r.cell.deployment),
]

# --------------------------------------------------------------------------- per-request records

RECORD_COLUMNS: list[tuple[str, Callable[[Cell, RequestRecord], Any]]] = [
    ("run_id", lambda c, r: c.run_id),
    ("deployment", lambda c, r: c.deployment),
    ("concurrency", lambda c, r: c.concurrency),
    ("index", lambda c, r: r.index),
    ("vu", lambda c, r: r.vu),
    ("prompt_id", lambda c, r: r.prompt_id),
    ("input_tokens", lambda c, r: r.input_tokens),
    ("output_tokens", lambda c, r: r.output_tokens),
    ("token_source", lambda c, r: r.token_source),
    ("ttft_ms", lambda c, r: metrics.ttft_ms(r)),
    ("tpot_ms", lambda c, r: metrics.tpot_ms(r)),
    ("e2e_ms", lambda c, r: metrics.e2e_ms(r)),
    ("ms_per_token", lambda c, r: metrics.ms_per_token(r)),
    ("schedule_lag_ms", lambda c, r: metrics.lag_ms(r)),
    *[(f"ttft_split_{k}_ms", (lambda k: lambda c, r: (metrics.ttft_split.parts_ms(r) or {}).get(k))(k))
      for k in metrics.ttft_split.PARTS],
    ("reused_connection", lambda c, r: r.reused),
    ("finish_reason", lambda c, r: r.finish_reason),
    ("http_status", lambda c, r: r.http_status),
    ("error", lambda c, r: r.error),
]


def cell_rows(cells: Sequence[Cell]) -> list[dict[str, Any]]:
    """The per-cell table as plain values keyed by column key (CSV/JSON/XLSX)."""
    return [{col.key: col.get(c) for col in CELL_COLUMNS} for c in cells]


def by_cost(cells: Sequence[Cell]) -> list[Cell]:
    """Cells cheapest first; cells without a price last (then by deployment, concurrency)."""
    def key(c: Cell):
        cost = c.summary.cost_per_1m_tokens
        return (cost is None, cost if cost is not None else 0.0, c.deployment, c.concurrency)
    return sorted(cells, key=key)
