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


def summary_table(rows: Sequence[RunSummary], title: str = "deploybench") -> Table:
    t = Table(title=title, show_lines=False)
    cols = ["deployment", "conc", "req", "err", "out tok/s", "req/s", "TTFT p50", "TTFT p90", "TPOT p50",
            "ITL p50", "E2E p50", "ms/tok p50", "lag p99", "$/1M tok", "srv run/queue"]
    for c in cols:
        t.add_column(c, justify="left" if c == "deployment" else "right")
    for s in rows:
        flag = " ⚠" if s.client_lagged else ""
        t.add_row(s.deployment, str(s.concurrency), str(s.requests), str(s.errors),
                  _f(s.output_throughput_tok_s), _f(s.request_throughput_rps, "{:.2f}"),
                  _f(s.ttft_ms.p50), _f(s.ttft_ms.p90), _f(s.tpot_ms.p50, "{:.2f}"), _f(s.itl_ms.p50, "{:.2f}"),
                  _f(s.e2e_ms.p50, "{:.0f}"), _f(s.ms_per_token.p50, "{:.2f}"),
                  _f(s.schedule_lag_ms.p99, "{:.2f}") + flag, _f(s.cost_per_1m_tokens, "{:.3f}"), _server(s))
    t.caption = ("times in ms; ⚠ = client fell behind its schedule (lag p99 over the limit); "
                 "srv run/queue = the server's own mean running / max queued requests (/metrics)")
    return t
