"""Repeated trials of one cell combined into one summary whose intervals are the between-trial spread.

Within one run, a block bootstrap or batch means only sees the spread between requests; two runs
of the same configuration can differ by more than that (server warm-up, placement, a neighbour).
With ``trials >= 2`` a cell's headline figures are the mean of its trials and their 95 % intervals
are Student-t intervals over the trials (``k - 1`` degrees of freedom).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..schemas import RunSummary
from .intervals import t_interval

_RATES = ("output_throughput_tok_s", "request_throughput_rps")
_DISTS = ("ttft_ms", "tpot_ms", "ms_per_token", "e2e_ms")
_STATS = ("p50", "p90")


def cell_key(s: RunSummary) -> tuple[str, str]:
    """A cell is a deployment at a level (``c4``, ``r2-poisson``, ...); trials share it."""
    return (s.deployment, s.level or f"c{s.concurrency}")


def combine(trials: Sequence[RunSummary]) -> RunSummary:
    """One summary for a cell measured ``len(trials)`` times (a single trial is returned as is)."""
    trials = sorted(trials, key=lambda s: s.trial)
    if len(trials) == 1:
        return trials[0]
    first = trials[0]
    method = f"between trials ({len(trials)})"
    upd: dict = {"trials": len(trials), "trial": 1, "intervals": {}}
    for name in _RATES:
        vals = [getattr(s, name) for s in trials]
        upd[name] = sum(vals) / len(vals)
        iv = t_interval(vals, method)
        if iv is not None:
            upd["intervals"][name] = iv
    for field in _DISTS:
        dist = getattr(first, field).model_copy()
        for stat in _STATS:
            vals = [v for s in trials if (v := getattr(getattr(s, field), stat)) is not None]
            if len(vals) == len(trials):
                setattr(dist, stat, sum(vals) / len(vals))
                iv = t_interval(vals, method)
                if iv is not None:
                    upd["intervals"][f"{field}.{stat}"] = iv
        upd[field] = dist
    costs = [s.cost_per_1m_tokens for s in trials]
    if all(c is not None for c in costs):
        upd["cost_per_1m_tokens"] = sum(costs) / len(costs)
        iv = t_interval(costs, method)
        if iv is not None:
            upd["intervals"]["cost_per_1m_tokens"] = iv
    mins = [s.minutes_per_1m_tokens for s in trials]
    if all(m is not None for m in mins):
        upd["minutes_per_1m_tokens"] = sum(mins) / len(mins)
    upd["requests"] = sum(s.requests for s in trials)
    upd["completed"] = sum(s.completed for s in trials)
    upd["errors"] = sum(s.errors for s in trials)
    upd["stopped_short"] = sum(s.stopped_short for s in trials)
    upd["error_rate"] = upd["errors"] / upd["requests"] if upd["requests"] else 0.0
    kinds: dict[str, int] = {}
    for s in trials:
        for kind, n in s.errors_by_kind.items():
            kinds[kind] = kinds.get(kind, 0) + n
    upd["errors_by_kind"] = dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    upd["flags"] = sorted({f for s in trials for f in s.flags})
    upd["client_lagged"] = any(s.client_lagged for s in trials)
    return first.model_copy(update=upd)


def combine_all(summaries: Sequence[RunSummary]) -> list[RunSummary]:
    """Each cell once: trials of a cell combined, cells in their first-seen order."""
    groups: dict[tuple[str, str], list[RunSummary]] = {}
    for s in summaries:
        groups.setdefault(cell_key(s), []).append(s)
    return [combine(g) for g in groups.values()]
