"""A run's summary: every figure of one cell, from its raw records and window (pure)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..schemas import RequestRecord, RunMeta, RunSummary
from ..schemas.plugins import server_series
from . import core, intervals, ttft_split
from .core import dist, e2e_ms, itl_ms, ms_per_token, stopped_short, tpot_ms, ttft_ms
from .cost import cost_per_1m, minutes_per_1m
from .slo import Constraint


def lag_distorts(lag_mean_ms: float | None, e2e_mean_ms: float | None, max_lag_ms: float = 1.0,
                 tolerance: float = 0.05) -> bool:
    """The client's delay moved a figure by more than ``tolerance`` of it.

    Latencies are measured from the moment the client began a request, so a late start does not move
    TTFT, TPOT or E2E (in open loop the from-due figures do show it). What it moves is the load: a closed-loop user idles for the lag before each
    request (throughput falls by lag / (E2E + lag)), an open-loop arrival leaves late. So the flag
    fires when the mean lag exceeds ``tolerance`` x the mean E2E (and ``max_lag_ms``).
    """
    if lag_mean_ms is None:
        return False
    return lag_mean_ms > max(max_lag_ms, tolerance * (e2e_mean_ms or 0.0))


def summarize(records: Sequence[RequestRecord], meta: RunMeta, slos: Sequence[Constraint] = (),
              max_lag_ms: float = 1.0, server_samples: Sequence[dict] = (), lag_tolerance: float = 0.05) -> RunSummary:
    """Every figure of a run, from its raw records and window."""
    recs = core.measured(records)
    start, end = core.window(recs, meta.window_start_ns, meta.window_end_ns)
    window_s = max(0.0, (end - start) / 1e9)
    rates = core.window_rates(recs, start, end)
    counted = rates.completed
    ok = [r for r in recs if r.error is None]
    errors = len(recs) - len(ok)
    out_tokens = rates.tokens
    open_loop = meta.level.get("kind", "closed") != "closed"
    good = [r for r in counted if all(c.met_by_request(r, open_loop) for c in slos)] if slos else None
    lag = core.dist([core.lag_ms(r) for r in recs])
    tput = rates.tok_s
    price = meta.price_per_hour
    ttft = dist(core.collect(ttft_ms(r) for r in recs))
    e2e = dist(core.collect(e2e_ms(r) for r in recs))
    lagged = lag_distorts(lag.mean, e2e.mean, max_lag_ms, lag_tolerance)
    flags = sorted(set(meta.flags) | ({"client-lag"} if lagged else set())
                   | ({"ttft-from-sent"} if any(map(core.from_sent, recs)) else set()))
    sources = sorted({r.token_source for r in ok}) or ["none"]
    return RunSummary(
        run_id=meta.run_id, deployment=meta.deployment, concurrency=meta.concurrency,
        requests=len(recs), completed=len(ok), errors=errors,
        error_rate=errors / len(recs) if recs else 0.0, window_s=window_s,
        output_tokens=int(round(out_tokens)), input_tokens=sum(r.input_tokens or 0 for r in counted),
        output_throughput_tok_s=tput,
        request_throughput_rps=rates.rps,
        goodput_rps=(len(good) / window_s if window_s > 0 else 0.0) if good is not None else None,
        ttft_ms=ttft,
        tpot_ms=dist(core.collect(tpot_ms(r) for r in recs)),
        itl_ms=dist(np.fromiter((g for r in recs for g in itl_ms(r)), dtype=float)),
        e2e_ms=e2e,
        **(from_due(recs) if open_loop else {}),
        ms_per_token=dist(core.collect(ms_per_token(r) for r in recs)),
        ttft_content_ms=dist(core.collect(map(core.ttft_content_ms, recs))),
        ttft_split_ms=ttft_split.split(recs),
        connections=ttft_split.connections(recs),
        token_mismatch=sum(map(core.token_mismatch, recs)),
        stopped_short=stopped_short(recs),
        errors_by_kind=core.errors_by_kind(recs),
        schedule_lag_ms=lag, client_lagged=lagged, flags=flags, trial=meta.trial, round_design=meta.round_design, contention=dict(meta.contention),
        intervals=intervals.host_allowance(
            intervals.run_intervals(recs, start, end, price,
                                    meta.concurrency if meta.level.get("kind", "closed") == "closed" else 0),
            meta.contention.get("host_slowdown")) if recs else {},
        **_level_figures(recs, meta, start, end, slos),
        token_source="+".join(sources), price_per_hour=price,
        minutes_per_1m_tokens=minutes_per_1m(tput), cost_per_1m_tokens=cost_per_1m(price, tput),
        labels=dict(meta.labels), external=dict(meta.external),
        server=summarize_server(server_samples, start, end) if server_samples else {},
    )


def from_due(recs: Sequence[RequestRecord]) -> dict:
    """Open loop: TTFT and E2E from each request's scheduled arrival (``ttft_from_due_ms``, ``e2e_from_due_ms``)."""
    return {"ttft_from_due_ms": dist(core.collect(map(core.ttft_from_due_ms, recs))),
            "e2e_from_due_ms": dist(core.collect(map(core.e2e_from_due_ms, recs)))}


def offered_achieved(recs: Sequence[RequestRecord], start: int, end: int) -> tuple[float, float]:
    """Open loop: arrivals/s offered and completions/s achieved, on windows shifted by the median E2E.

    A request that arrives at t completes about one E2E later, so arrivals in [start, end - E] are
    compared with completions in [start + E, end] (E = median E2E of successful requests, at most
    half the window): a server that keeps up shows the same rate on both, whatever the window
    length; one that falls behind completes fewer.
    """
    e2e = sorted(r.done_ns - core.start_ns(r) for r in recs if r.error is None)
    shift = min(e2e[len(e2e) // 2] if e2e else 0, (end - start) // 2)
    span_s = (end - start - shift) / 1e9
    offered = sum(1 for r in recs if start <= r.scheduled_ns <= end - shift) / span_s
    achieved = sum(1 for r in recs if r.error is None and start + shift <= r.done_ns <= end) / span_s
    return offered, achieved


def _level_figures(recs: Sequence[RequestRecord], meta: RunMeta, start: int, end: int,
                   slos: Sequence[Constraint]) -> dict:
    """Level key and kind; for open loop, the offered rate and drops; SLO attainment when SLOs are given."""
    kind = meta.level.get("kind", "closed")
    out: dict = {"level": meta.level.get("key") or f"c{meta.concurrency}", "level_kind": kind,
                 "dropped": sum(1 for r in recs if (r.error or "").startswith("dropped"))}
    window_s = (end - start) / 1e9
    if kind != "closed" and window_s > 0:
        out["offered_rps"], out["achieved_rps"] = offered_achieved(recs, start, end)
    if slos and recs:
        out["slo_attainment"] = sum(1 for r in recs if r.error is None
                                    and all(c.met_by_request(r, kind != "closed") for c in slos)) / len(recs)
    return out


def summarize_server(samples: Sequence[dict], start_ns: int | None = None, end_ns: int | None = None) -> dict:
    """Mean and max of the server's own queue / occupancy / KV-cache gauges inside the window."""
    inside = [s for s in samples if (start_ns is None or s["t_ns"] >= start_ns) and (end_ns is None or s["t_ns"] <= end_ns)]
    out: dict[str, dict[str, float]] = {}
    gauges, token_counters, _ = server_series()  # readable name -> candidate series, from the engine plugins
    for name, candidates in gauges.items():
        for key in candidates:
            vals = [s["values"][key] for s in inside if key in s["values"]]
            if vals:
                out[name] = {"mean": float(np.mean(vals)), "max": float(np.max(vals)), "n": len(vals), "series": key}
                break
    for key in token_counters:
        pts = [(s["t_ns"], s["values"][key]) for s in inside if key in s["values"]]
        if len(pts) >= 2 and pts[-1][0] > pts[0][0]:
            rate = (pts[-1][1] - pts[0][1]) / ((pts[-1][0] - pts[0][0]) / 1e9)
            out["tokens_per_s"] = {"mean": float(rate), "max": float(rate), "n": len(pts), "series": key}
            break
    return out
