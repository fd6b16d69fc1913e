"""A saturation sweep: the synchronous rate, the max throughput, then open-loop rates between.

1. ``c1``: one closed-loop user — the synchronous rate (requests/s with nothing queued).
2. ``c<max_users>``: enough users to keep the server full — its max throughput (requests/s).
3. ``rates`` open-loop rates spaced evenly from the synchronous rate to ``headroom`` x the max.
   Raising stops once the server is **over-saturated**: the achieved rate falls below 90 % of the
   offered rate, or TTFT p50 of the last third of the window's requests is more than twice that of
   the first third (requests in flight and TTFT growing without bound).
4. The **knee**: the highest measured rate whose cell meets every constraint of the study's SLO
   (``load.slo``) with at most 1 % errors, kept up with (achieved >= 90 % of offered) and not
   over-saturated (:func:`deploybench.metrics.capacity.max_rate_within_slo`).

Each step is an ordinary cell (``<dep>__c1``, ``<dep>__r7.14-poisson``, ...); ``<dep>__sweep.json``
lists them with offered vs achieved rate, TTFT p50/p99 and the knee, and marks the sweep complete
(a rerun skips completed steps and finishes the rest).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .. import metrics, storage
from ..metrics.capacity import max_rate_within_slo, nominal_rps
from ..schemas import ClosedLevel, RateLevel, RunSummary
from .resume import completed_summary

def completed(study_dir: Path, deployment: str, trial: int) -> list[RunSummary] | None:
    """The sweep's cells if it finished before (resume), else None."""
    path = study_dir / storage.sweep_file(deployment, trial)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if data.get("status") != "complete":
        return None
    cells = [completed_summary(study_dir / rid) for rid in data.get("cells", [])]
    return None if any(c is None for c in cells) else cells


def oversaturated(s: RunSummary, records, max_rps: float) -> str | None:
    """Why a rate cell shows an over-saturated server (None when it does not).

    The achieved rate below 90 % of the offered one says so at any rate; TTFT growing within the
    window says so only above the measured max throughput (below it, a Poisson burst in a short
    window also lifts TTFT for a while, and the queue drains again).
    """
    if s.offered_rps and (s.achieved_rps or 0.0) < 0.9 * s.offered_rps:
        return f"achieved {s.achieved_rps or 0.0:.3g} req/s < 90 % of offered {s.offered_rps:.3g}"
    nominal = nominal_rps(s)
    ok = sorted((r for r in records if not r.warmup and r.error is None and r.chunk_ns), key=lambda r: r.sent_ns)
    if nominal > max_rps and len(ok) >= 9:
        third = len(ok) // 3
        first = np.median([metrics.ttft_ms(r) for r in ok[:third]])
        last = np.median([metrics.ttft_ms(r) for r in ok[-third:]])
        if last > 2 * first:
            return f"TTFT p50 grew from {first:.0f} ms to {last:.0f} ms within the window"
    return None


def knee(points: list[RunSummary], slos, saturated: set[str] = frozenset()) -> RunSummary | None:
    """The highest offered rate whose cell meets the SLO without over-saturating the server."""
    return max_rate_within_slo(points, slos, set(saturated)).get(points[0].deployment) if points else None


def _rps(s: RunSummary, cfg) -> float:
    """A closed level's request rate from its token rate (tokens/s ÷ tokens per request): counting
    completions in a window undercounts when requests last a good part of the window."""
    per = cfg.workload.max_tokens
    return s.output_throughput_tok_s / per if per else s.request_throughput_rps


async def run_sweep(ctx, level, trial: int, prompts, measure) -> list[RunSummary]:
    """Measure the sweep's cells in order; ``measure(ctx, level, trial, prompts)`` measures one cell."""
    slos = metrics.slo.parse(ctx.cfg.load.slo)
    dep = ctx.cfg.deployment.name

    async def cell(lv) -> RunSummary:
        prior = completed_summary(ctx.study_dir / storage.run_id_for(dep, lv, trial))
        return prior if prior is not None else await measure(ctx, lv, trial, prompts)

    sync = await cell(ClosedLevel(users=1))
    peak = await cell(ClosedLevel(users=level.max_users))
    lo, hi = _rps(sync, ctx.cfg), _rps(peak, ctx.cfg) * level.headroom
    rates = [float(f"{r:.3g}") for r in np.linspace(lo, max(hi, lo * 1.01), level.rates)] if lo > 0 else []
    points, stop = [], None
    for rps in dict.fromkeys(rates):
        s = await cell(RateLevel(rps=rps, arrival=level.arrival, cv=level.cv, seed=trial))
        points.append(s)
        stop = oversaturated(s, storage.read_records(ctx.study_dir / s.run_id), _rps(peak, ctx.cfg))
        if stop:
            break
    best = knee(points, slos, {points[-1].run_id} if stop else set())
    _write(ctx.study_dir, dep, trial, level, (sync, lo), (peak, _rps(peak, ctx.cfg)), points, best, stop,
           ctx.cfg.load.slo)
    return [sync, peak, *points]


def _write(study_dir, dep, trial, level, sync_pair, peak_pair, points, best, stop, slo) -> None:
    (sync, sync_rps), (peak, max_rps) = sync_pair, peak_pair
    row = lambda s: {"run_id": s.run_id, "rps": nominal_rps(s), "offered_rps": s.offered_rps, "achieved_rps": s.achieved_rps,  # noqa: E731
                     "ttft_p50_ms": s.ttft_ms.p50, "ttft_p99_ms": s.ttft_ms.p99, "slo_attainment": s.slo_attainment,
                     "output_tok_s": s.output_throughput_tok_s, "error_rate": s.error_rate}
    data = {"status": "complete", "level": level.model_dump(mode="json"), "slo": slo,
            "synchronous_rps": sync_rps, "max_rps": max_rps,
            "points": [row(p) for p in points], "stopped_early": stop,
            "knee": row(best) if best else None,
            "cells": [sync.run_id, peak.run_id, *(p.run_id for p in points)]}
    storage.atomic_write(study_dir / storage.sweep_file(dep, trial), json.dumps(data, indent=2))
