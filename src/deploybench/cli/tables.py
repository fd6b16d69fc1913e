"""Console tables."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from ..schemas import RunSummary


def _f(v: float | None, fmt: str = "{:.1f}") -> str:
    return "—" if v is None else fmt.format(v)


def _server(s: RunSummary) -> str:
    """The engine's own view: mean running requests / max queued (from its /metrics)."""
    run, wait = s.server.get("requests_running"), s.server.get("requests_waiting")
    if not run and not wait:
        return "—"
    return f"{_f((run or {}).get('mean'), '{:.1f}')}/{_f((wait or {}).get('max'), '{:.0f}')}"


def _pm(s: RunSummary, key: str, value: float | None, fmt: str) -> str:
    """``value ±h%``: the 95 % interval's half-width relative to the figure."""
    iv = s.intervals.get(key)
    if value is None or iv is None or not value:
        return _f(value, fmt)
    return f"{fmt.format(value)} ±{(iv.hi - iv.lo) / 2 / abs(value):.0%}"


def summary_table(rows: Sequence[RunSummary], title: str = "deploybench") -> Table:
    t = Table(title=title, show_lines=False)
    cols = ["deployment", "level", "req", "err", "out tok/s", "req/s", "TTFT p50", "TTFT p90", "TPOT p50",
            "ITL p50", "E2E p50", "ms/tok p50", "lag p99", "$/1M tok", "srv run/queue", "flags"]
    for c in cols:
        t.add_column(c, justify="left" if c in ("deployment", "flags") else "right")
    for s in rows:
        flag = " ⚠" if s.client_lagged else ""
        trial = f" t{s.trial}" if s.trial > 1 else ""
        level = s.level if s.level_kind != "closed" else str(s.concurrency)
        t.add_row(s.deployment + trial, level, str(s.requests), str(s.errors),
                  _pm(s, "output_throughput_tok_s", s.output_throughput_tok_s, "{:.1f}"),
                  _f(s.request_throughput_rps, "{:.2f}"),
                  _pm(s, "ttft_ms.p50", s.ttft_ms.p50, "{:.1f}"), _f(s.ttft_ms.p90), _f(s.tpot_ms.p50, "{:.2f}"),
                  _f(s.itl_ms.p50, "{:.2f}"), _f(s.e2e_ms.p50, "{:.0f}"),
                  _pm(s, "ms_per_token.p50", s.ms_per_token.p50, "{:.2f}"),
                  _f(s.schedule_lag_ms.p99, "{:.2f}") + flag,
                  _pm(s, "cost_per_1m_tokens", s.cost_per_1m_tokens, "{:.3f}"), _server(s),
                  ", ".join(s.flags) or "—")
    t.caption = ("times in ms; ±: half-width of the 95 % interval; ⚠ client-lag = the client's delay distorts "
                 "the load (mean lag > max(1 ms, 5 % of mean E2E)); contended = other processes took the "
                 "server's CPU; imprecise = the level hit its time cap before its intervals were tight; "
                 "shared-cpu = client and server shared cores; srv run/queue = the server's own mean running / "
                 "max queued requests (/metrics)")
    return t


def ttft_split_table(rows: Sequence[RunSummary]) -> Table | None:
    """Where time to first token goes: the p50 of each part per cell (None when no cell has a split)."""
    rows = [s for s in rows if s.ttft_split_ms]
    if not rows:
        return None
    parts = (("schedule", "schedule"), ("connect_new", "connect new"), ("connect_pooled", "connect pooled"),
             ("write", "write"), ("headers", "headers"), ("first_token", "first token"))
    t = Table(title="where time to first token goes (p50, ms)", show_lines=False)
    for c in ["deployment", "level", "TTFT p50", *(title for _, title in parts), "new/pooled conns"]:
        t.add_column(c, justify="left" if c == "deployment" else "right")
    for s in rows:
        level = s.level if s.level_kind != "closed" else str(s.concurrency)
        split = [_f(getattr(s.ttft_split_ms.get(k), "p50", None), "{:.2f}") for k, _ in parts]
        conns = f"{s.connections.get('new', 0)}/{s.connections.get('pooled', 0)}"
        t.add_row(s.deployment + (f" t{s.trial}" if s.trial > 1 else ""), level, _f(s.ttft_ms.p50), *split, conns)
    t.caption = ("from the request's due time: schedule = began late, connect = new TCP connection or pooled one "
                 "taken, write = request written, headers = until the answer's head was read, first token = head "
                 "to first token; schedule+connect+write = schedule lag, headers+first token = TTFT "
                 "(docs/metrics.md)")
    return t
