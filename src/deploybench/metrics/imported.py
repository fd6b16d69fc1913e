"""Figures of imported cells whose window the records cannot give (pure).

A tool that stores per-request latencies without absolute times (LLMPerf), or only a sample of its
requests (GuideLLM), leaves the window's throughput to its own summary. :func:`with_tool_window`
replaces the window figures of a summary computed from such records by the tool's, keeps every
per-request figure (TTFT, TPOT, ITL, E2E, ms/token) as deploybench computed it, and drops what cannot
be known: goodput, offered / achieved rates on relative times, and the intervals of window figures.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..schemas import Dist, RequestRecord, RunMeta, RunSummary
from .cost import cost_per_1m, minutes_per_1m
from .summary import summarize

WINDOW_FIGURES = ("output_throughput_tok_s", "request_throughput_rps", "cost_per_1m_tokens", "goodput_rps")


def _cost(price: float | None, tput: float | None) -> tuple[float | None, float | None]:
    if tput is None or tput <= 0:
        return None, None
    return minutes_per_1m(tput), cost_per_1m(price, tput)


def with_tool_window(s: RunSummary, tw: Mapping[str, Any], relative: bool, missing: list[str]) -> RunSummary:
    """``s`` with the tool's window figures (``tw``: window_s, output_tokens, output_tok_s, request_rps);
    a figure the tool does not give stays 0 and is listed in ``missing``."""
    window, tokens = tw.get("window_s"), tw.get("output_tokens")
    tput = tw.get("output_tok_s")
    if tput is None and window and tokens is not None:
        tput = tokens / window
    rps = tw.get("request_rps")
    miss = list(missing)
    for name, value in (("output_throughput_tok_s", tput), ("request_throughput_rps", rps), ("window_s", window)):
        if value is None and name not in miss:
            miss.append(name)
    minutes, cost = _cost(s.price_per_hour, tput)
    update: dict[str, Any] = {
        "window_s": float(window or 0.0), "output_tokens": int(tokens or 0), "output_throughput_tok_s": float(tput or 0.0),
        "request_throughput_rps": float(rps or 0.0), "goodput_rps": None, "minutes_per_1m_tokens": minutes,
        "cost_per_1m_tokens": cost, "missing": miss,
        "intervals": {k: v for k, v in s.intervals.items() if k not in WINDOW_FIGURES},
    }
    if relative:
        update.update(offered_rps=None, achieved_rps=None)
    return s.model_copy(update=update)


def summarize_imported(meta: RunMeta, records: Sequence[RequestRecord] | None, figures: Mapping[str, Any],
                       slos: Sequence = ()) -> RunSummary:
    """An imported cell's summary: from its records (window figures from the tool where the records cannot give
    them), else from the figures the tool published. The one place both are made (the importer and storage.cells call it)."""
    ext = meta.external
    missing = list(ext.get("missing") or [])
    if records is not None:
        s = summarize(records, meta, slos)
        tw = ext.get("tool_window")
        s = with_tool_window(s, tw, meta.labels.get("time") == "relative", missing) if tw else s.model_copy(
            update={"missing": missing})
        return s
    return _summary_only(meta, figures, missing)


def _summary_only(meta: RunMeta, figures: Mapping[str, Any], missing: list[str]) -> RunSummary:
    done = int(figures.get("completed") or 0)
    requests = int(figures.get("requests") or done)
    errors = int(figures.get("errors") or 0)
    dists = {k: v if isinstance(v, Dist) else Dist.model_validate(v) for k, v in figures.items()
             if k in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "ms_per_token", "server_ms_per_token")}
    base = RunSummary(
        run_id=meta.run_id, deployment=meta.deployment, concurrency=meta.concurrency, requests=requests,
        completed=done, errors=errors, error_rate=errors / requests if requests else 0.0, window_s=0.0,
        output_tokens=0, output_throughput_tok_s=0.0, request_throughput_rps=0.0,
        ttft_ms=dists.get("ttft_ms", Dist()), tpot_ms=dists.get("tpot_ms", Dist()), itl_ms=dists.get("itl_ms", Dist()),
        e2e_ms=dists.get("e2e_ms", Dist()), ms_per_token=dists.get("ms_per_token", Dist()),
        server_ms_per_token=dists.get("server_ms_per_token", Dist()), schedule_lag_ms=Dist(), token_source="none",
        price_per_hour=meta.price_per_hour, labels=dict(meta.labels), external=dict(meta.external),
        level=meta.level.get("key", f"c{meta.concurrency}"), level_kind=meta.level.get("kind", "closed"))
    tw = meta.external.get("tool_window") or {}
    s = with_tool_window(base, tw, False, missing)
    if s.level_kind == "rate" and tw.get("request_rps") is not None:
        s = s.model_copy(update={"offered_rps": float(meta.level.get("rps") or 0.0) or None,
                                 "achieved_rps": tw.get("request_rps")})
    return s
