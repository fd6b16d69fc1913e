"""Rounds of one cell combined into one summary, and the tests that compare cells over rounds.

A study measures every cell in R rounds (``load.rounds``); each round is one stored run
(``<cell>``, ``<cell>__t2``, ...). The combined cell (:func:`combine`):

* **figures from all rounds' requests**: percentiles over the pooled requests; throughput = output
  tokens inside the rounds' windows ÷ the summed windows; cost = price ÷ that throughput;
* **95 % intervals over rounds**: the Student-t interval (R − 1 degrees of freedom) of the mean of
  the rounds' log figures, centred on the pooled figure: ``pooled · exp(± t · sd / √R)``. Each
  round's figure carries its own within-round noise and the host's state during that round, so the
  spread between rounds holds both. Logs, because a host that runs 40 % slower scales every
  figure by a factor; the cost interval is exactly price ÷ the throughput interval.

:func:`paired` judges two cells on the rounds both have: the per-round log ratio of their figures
(rounds of the same level are measured back to back, so a host's slow phase hits both and cancels
in the ratio), Student-t over rounds. :func:`unpaired` (two studies, nothing to pair) is Welch's
test on the rounds' log figures. docs/metrics.md ("Rounds") is the prose version of this module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..schemas import Interval, RequestRecord, RunSummary
from . import core, ttft_split
from .tdist import t_ppf
from .cost import cost_per_1m, minutes_per_1m

ROUND_FIGURES = ("output_throughput_tok_s", "request_throughput_rps", "cost_per_1m_tokens",
                 "ttft_ms.p50", "ttft_ms.p90", "tpot_ms.p50", "tpot_ms.p90", "ms_per_token.p50",
                 "ms_per_token.p90", "e2e_ms.p50", "e2e_ms.p90")
"""Figures whose per-round values a combined cell keeps (``round_values``) and brackets."""
HEADLINE = ("output_throughput_tok_s", "ttft_ms.p50", "tpot_ms.p50", "cost_per_1m_tokens")
"""The figures a round's precision target is judged on (the report's headline columns)."""
CONFIDENCE = 0.95
_DISTS = ("ttft_ms", "tpot_ms", "e2e_ms", "ms_per_token", "ttft_content_ms")


def figure(s: RunSummary, name: str) -> float | None:
    """A summary's figure by its interval key (``output_throughput_tok_s``, ``ttft_ms.p50``, ...)."""
    if "." in name:
        field, stat = name.split(".", 1)
        return getattr(getattr(s, field), stat, None)
    return getattr(s, name, None)


def cell_key(s: RunSummary) -> tuple[str, str]:
    """A cell is a deployment at a level (``c4``, ``r2-poisson``, ...); its rounds share it."""
    return (s.deployment, s.level or f"c{s.concurrency}")


def log_interval(point: float, values: Sequence[float], method: str, confidence: float = CONFIDENCE) -> Interval | None:
    """``point · exp(± t · sd(log values) / √n)``: None with fewer than 2 positive values."""
    logs = np.log([v for v in values if v is not None and v > 0])
    if logs.size < 2 or point is None or point <= 0:
        return None
    half = float(t_ppf(0.5 + confidence / 2, logs.size - 1) * logs.std(ddof=1) / math.sqrt(logs.size))
    return Interval(lo=point * math.exp(-half), hi=point * math.exp(half), n=int(logs.size), method=method)


def _pooled(rounds: Sequence[tuple[RunSummary, Sequence[RequestRecord]]]) -> dict:
    """Distributions over every round's measured requests (each round's own window for its rates)."""
    recs = [r for _, records in rounds for r in core.measured(records)]
    out = {name: core.dist(core.collect(getattr(core, name)(r) for r in recs)) for name in _DISTS}
    out["itl_ms"] = core.dist(np.fromiter((g for r in recs for g in core.itl_ms(r)), dtype=float))
    out["schedule_lag_ms"] = core.dist([core.lag_ms(r) for r in recs])
    if rounds and rounds[0][0].level_kind != "closed":  # open loop: from the scheduled arrivals too
        out["ttft_from_due_ms"] = core.dist(core.collect(map(core.ttft_from_due_ms, recs)))
        out["e2e_from_due_ms"] = core.dist(core.collect(map(core.e2e_from_due_ms, recs)))
    out["ttft_split_ms"] = ttft_split.split(recs)
    out["connections"] = ttft_split.connections(recs)
    out["token_mismatch"] = sum(map(core.token_mismatch, recs))
    out["stopped_short"] = core.stopped_short(recs)
    return out


def _weighted(rounds: Sequence[RunSummary]) -> dict:
    """Without records (summaries only): each distribution's figures as the request-weighted mean of the rounds'."""
    out = {}
    for name in (*_DISTS, "itl_ms", "schedule_lag_ms", "ttft_from_due_ms", "e2e_from_due_ms"):
        dists = [d for s in rounds if (d := getattr(s, name)) is not None]
        if not dists:
            continue
        total = sum(d.n for d in dists)
        merged = dists[0].model_copy(update={"n": total})
        for stat in ("mean", "p50", "p90", "p95", "p99"):
            pairs = [(getattr(d, stat), d.n) for d in dists if getattr(d, stat) is not None]
            if pairs and total:
                setattr(merged, stat, sum(v * n for v, n in pairs) / max(1, sum(n for _, n in pairs)))
        mins = [d.min for d in dists if d.min is not None]
        maxs = [d.max for d in dists if d.max is not None]
        merged.min, merged.max = (min(mins) if mins else None), (max(maxs) if maxs else None)
        out[name] = merged
    out["token_mismatch"] = sum(s.token_mismatch for s in rounds)
    out["stopped_short"] = sum(s.stopped_short for s in rounds)
    return out


def _counts(rounds: Sequence[RunSummary]) -> dict:
    window = sum(s.window_s for s in rounds)
    tokens = sum(s.output_throughput_tok_s * s.window_s for s in rounds)
    reqs = sum(s.request_throughput_rps * s.window_s for s in rounds)
    price = rounds[0].price_per_hour
    tput = tokens / window if window > 0 else 0.0
    out = {"window_s": window, "output_tokens": int(round(tokens)), "output_throughput_tok_s": tput,
           "request_throughput_rps": reqs / window if window > 0 else 0.0,
           "input_tokens": sum(s.input_tokens for s in rounds),
           "minutes_per_1m_tokens": minutes_per_1m(tput), "cost_per_1m_tokens": cost_per_1m(price, tput),
           "requests": sum(s.requests for s in rounds), "completed": sum(s.completed for s in rounds),
           "errors": sum(s.errors for s in rounds), "dropped": sum(s.dropped for s in rounds)}
    out["error_rate"] = out["errors"] / out["requests"] if out["requests"] else 0.0
    if all(s.goodput_rps is not None for s in rounds) and window > 0:
        out["goodput_rps"] = sum(s.goodput_rps * s.window_s for s in rounds) / window
    for name in ("offered_rps", "achieved_rps"):
        if all(getattr(s, name) is not None for s in rounds) and window > 0:
            out[name] = sum(getattr(s, name) * s.window_s for s in rounds) / window
    if all(s.slo_attainment is not None for s in rounds) and out["requests"]:
        out["slo_attainment"] = sum(s.slo_attainment * s.requests for s in rounds) / out["requests"]
    kinds: dict[str, int] = {}
    for s in rounds:
        for kind, n in s.errors_by_kind.items():
            kinds[kind] = kinds.get(kind, 0) + n
    out["errors_by_kind"] = dict(sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0])))
    return out


def combine(rounds: Sequence[tuple[RunSummary, Sequence[RequestRecord] | None]],
            target_half_width: float | None = None) -> RunSummary:
    """One summary for a cell measured in ``len(rounds)`` rounds (a single round is returned as is).

    ``rounds``: each round's own summary and its raw records (None: the summary only; distributions
    are then request-weighted means of the rounds', and say so). ``target_half_width``: flag the cell
    ``imprecise`` when a headline interval is wider than this fraction of its figure.
    """
    rounds = sorted(rounds, key=lambda sr: sr[0].trial)
    if len(rounds) == 1:
        return rounds[0][0]
    sums = [s for s, _ in rounds]
    have_records = all(recs is not None for _, recs in rounds)
    upd = {**_counts(sums), **(_pooled(rounds) if have_records else _weighted(sums))}
    upd.update(trials=len(sums), trial=1, rounds=[s.trial for s in sums],
               round_values={name: [figure(s, name) for s in sums] for name in ROUND_FIGURES})
    out = sums[0].model_copy(update=upd)
    method = f"t over {len(sums)} rounds (log scale)" + ("" if have_records else "; percentiles: round means")
    ivs = {}
    for name in ROUND_FIGURES:
        iv = log_interval(figure(out, name), upd["round_values"][name], method)
        if iv is not None:
            ivs[name] = iv
    out.intervals = ivs
    flags = {f for s in sums for f in s.flags} - {"imprecise"}  # a round's own window: not the cell's precision
    if target_half_width is not None and imprecise(out, target_half_width):
        flags.add("imprecise")
    out.flags = sorted(flags)
    out.client_lagged = any(s.client_lagged for s in sums)
    return out


def imprecise(s: RunSummary, target: float, figures: Sequence[str] = HEADLINE) -> bool:
    """A headline figure's interval is missing or wider than ``target`` of the figure (either side)."""
    for name in figures:
        point, iv = figure(s, name), s.intervals.get(name)
        if point is None or point <= 0:
            continue
        if iv is None or max(iv.hi - point, point - iv.lo) / point > target:
            return True
    return False


@dataclass(frozen=True)
class Verdict:
    """How ``a`` compares with ``b`` on one figure: the ratio a/b with its 95 % interval."""

    clear: bool  # the interval of the ratio excludes 1 on ``a``'s better side
    ratio: float | None
    lo: float | None
    hi: float | None
    n: int
    method: str


def _better_side(lo: float, hi: float, lower_is_better: bool) -> bool:
    return hi < 1.0 if lower_is_better else lo > 1.0


def round_map(s: RunSummary, name: str) -> dict[int, float]:
    """Round number -> the figure in that round (positive values only); a single round: itself."""
    if s.round_values and name in s.round_values:
        return {r: v for r, v in zip(s.rounds, s.round_values[name]) if v is not None and v > 0}
    v = figure(s, name)
    return {s.trial: v} if v is not None and v > 0 else {}


def paired(a: RunSummary, b: RunSummary, name: str, lower_is_better: bool,
           confidence: float = CONFIDENCE) -> Verdict | None:
    """Paired test over the rounds both cells have: is ``a`` better than ``b``? None below 2 common rounds."""
    ra, rb = round_map(a, name), round_map(b, name)
    common = sorted(set(ra) & set(rb))
    if len(common) < 2:
        return None
    d = np.log([ra[r] / rb[r] for r in common])
    t = float(t_ppf(0.5 + confidence / 2, d.size - 1))
    half = t * float(d.std(ddof=1)) / math.sqrt(d.size)
    mean = float(d.mean())
    lo, hi = math.exp(mean - half), math.exp(mean + half)
    return Verdict(_better_side(lo, hi, lower_is_better), math.exp(mean), lo, hi, int(d.size),
                   f"paired t over {d.size} rounds (log ratio)")


def unpaired(a: RunSummary, b: RunSummary, name: str, lower_is_better: bool,
             confidence: float = CONFIDENCE) -> Verdict | None:
    """Welch's test on the two cells' per-round log figures (two studies: rounds cannot be paired)."""
    la = np.log(list(round_map(a, name).values()))
    lb = np.log(list(round_map(b, name).values()))
    if la.size < 2 or lb.size < 2:
        return None
    va, vb = la.var(ddof=1) / la.size, lb.var(ddof=1) / lb.size
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / ((va ** 2 / (la.size - 1)) + (vb ** 2 / (lb.size - 1))) if va + vb > 0 else la.size + lb.size - 2
    diff = float(la.mean() - lb.mean())
    half = float(t_ppf(0.5 + confidence / 2, df)) * se
    lo, hi = math.exp(diff - half), math.exp(diff + half)
    return Verdict(_better_side(lo, hi, lower_is_better), math.exp(diff), lo, hi, int(min(la.size, lb.size)),
                   f"Welch t over rounds ({la.size} vs {lb.size}, log scale)")


def within_run(a: RunSummary, b: RunSummary, name: str, lower_is_better: bool) -> Verdict | None:
    """One round each: a z test on the two within-run intervals (their half-widths as 1.96 standard errors)."""
    pa, pb = figure(a, name), figure(b, name)
    ia, ib = a.intervals.get(name), b.intervals.get(name)
    if None in (pa, pb, ia, ib) or pa <= 0 or pb <= 0 or ia.lo <= 0 or ib.lo <= 0:
        return None
    sa = (math.log(ia.hi) - math.log(ia.lo)) / 2 / 1.96
    sb = (math.log(ib.hi) - math.log(ib.lo)) / 2 / 1.96
    diff, half = math.log(pa / pb), 1.96 * math.sqrt(sa ** 2 + sb ** 2)
    lo, hi = math.exp(diff - half), math.exp(diff + half)
    return Verdict(_better_side(lo, hi, lower_is_better), pa / pb, lo, hi, 1,
                   "within-run intervals (1 round: run-to-run drift not measured)")


def compare_cells(a: RunSummary, b: RunSummary, name: str, lower_is_better: bool) -> Verdict | None:
    """The strongest test the two cells allow: paired over rounds, else the within-run z test."""
    return paired(a, b, name, lower_is_better) or within_run(a, b, name, lower_is_better)


def combine_all(summaries: Sequence[RunSummary]) -> list[RunSummary]:
    """Each cell once (summaries only): rounds of a cell combined, cells in their first-seen order."""
    groups: dict[tuple[str, str], list[RunSummary]] = {}
    for s in summaries:
        groups.setdefault(cell_key(s), []).append(s)
    return [g[0] if len(g) == 1 else combine([(s, None) for s in g]) for g in groups.values()]
