"""95 % intervals on a run's headline figures, from raw records (pure: no I/O, no clocks).

Requests in one run are not independent: requests in flight together share the server's batch,
and one slow phase (a noisy neighbour, a long prompt) stretches several neighbours at once. So:

* **closed-loop rates** use the **ratio estimator** of Little's law over requests
  (:func:`closed_loop_rates`), block-bootstrapped; its relative bounds are applied to the window's
  figure;
* **open-loop rates** (output tok/s, request/s) use **batch means**: the window is cut into ``B`` equal time
  batches, each at least as long as a typical request (median E2E, at least 0.5 s), 3 <= B <= 20;
  the rate of each batch is one observation and the interval is the Student-t interval of their
  mean (``B - 1`` degrees of freedom).
* **latency percentiles** (TTFT, TPOT, ms/token, E2E at p50 / p90) use a **moving-block
  bootstrap** over requests in send order: blocks as long as the mean number of requests in flight
  (Little's law: sum of E2E / window), resampled with replacement to the run's size, 400 times with
  a fixed seed; the interval is the 2.5th..97.5th percentile of the resampled statistic.
* **few blocks** (both bootstraps): a bootstrap percentile interval from k = n / block independent
  blocks is too narrow when k is small (it uses the plug-in variance and normal quantiles), so its
  half-widths around the estimate are multiplied by :func:`small_sample_factor` — t(0.975, k−1) /
  z(0.975) · √(k / (k − 1)); fewer than 2 blocks give no interval.
* **cost per 1M tokens** maps the throughput interval through ``price / throughput`` (its ends swap).
* **between trials** (repeated runs of one cell): the Student-t interval of the trials' mean.

docs/metrics.md ("Intervals") is the prose version of this module.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ..schemas import Interval, RequestRecord
from . import core
from .tdist import t_ppf, z_ppf

BOOT = 400
SEED = 20230815
HEADLINE = ("output_throughput_tok_s", "ttft_ms.p50", "ms_per_token.p50")
"""Figures an adaptive window waits for (``load.precision_figures`` overrides)."""

_PER_REQUEST: dict[str, Callable[[RequestRecord], float | None]] = {
    "ttft_ms": core.ttft_ms, "tpot_ms": core.tpot_ms, "ms_per_token": core.ms_per_token, "e2e_ms": core.e2e_ms,
}
PERCENTILES = (("p50", 50.0), ("p90", 90.0))


def t_interval(values: Sequence[float], method: str) -> Interval | None:
    """Student-t 95 % interval of the mean of ``values`` (None with fewer than 2)."""
    arr = np.asarray(values, dtype=float)
    if arr.size < 2:
        return None
    mean = float(arr.mean())
    half = float(t_ppf(0.975, arr.size - 1) * arr.std(ddof=1) / math.sqrt(arr.size))
    return Interval(lo=mean - half, hi=mean + half, n=int(arr.size), method=method)


def batch_count(window_s: float, typical_request_s: float) -> int:
    """Batches for batch means: each >= max(0.5 s, a typical request), between 3 and 20."""
    if window_s <= 0:
        return 0
    return int(min(20, max(3, window_s // max(0.5, typical_request_s))))


def rate_batches(recs: Sequence[RequestRecord], start_ns: int, end_ns: int, batches: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-batch output tokens/s and completed requests/s over equal slices of the window."""
    edges = np.linspace(start_ns, end_ns, batches + 1)
    tokens = np.zeros(batches)
    done = np.zeros(batches)
    for r in recs:
        if r.error or not r.output_tokens:
            continue
        scale = r.output_tokens / (sum(r.chunk_tokens) or 1)
        if r.chunk_ns:
            idx = np.searchsorted(edges, r.chunk_ns, side="right") - 1
            ok = (idx >= 0) & (idx < batches)
            np.add.at(tokens, idx[ok], np.asarray(r.chunk_tokens[: len(r.chunk_ns)], dtype=float)[ok] * scale)
        j = int(np.searchsorted(edges, r.done_ns, side="right") - 1)
        if 0 <= j < batches:
            done[j] += 1
    width_s = (end_ns - start_ns) / 1e9 / batches
    return tokens / width_s, done / width_s


def small_sample_factor(blocks: float) -> float | None:
    """Widening of a bootstrap interval built from ``blocks`` independent blocks (None below 2).

    A bootstrap from k blocks estimates the variance with divisor k (not k − 1) and its percentile
    interval behaves like estimate ± z·se; the honest small-sample interval is estimate ± t(k−1)·se
    with the unbiased variance, so the half-widths grow by t(0.975, k−1)/z(0.975) · √(k/(k−1)):
    ×9.2 at k = 2, ×1.7 at k = 4, ×1.2 at k = 10, ×1.05 at k = 40.
    """
    if blocks < 2:
        return None
    return float(t_ppf(0.975, blocks - 1) / z_ppf(0.975) * math.sqrt(blocks / (blocks - 1)))


def _widen(lo: float, hi: float, point: float, factor: float) -> tuple[float, float]:
    """Scale an interval's half-widths around ``point`` by ``factor``."""
    return point - factor * (point - lo), point + factor * (hi - point)


def _block_indices(n: int, block: int, boot: int, seed: int) -> tuple[np.ndarray, int]:
    """``boot`` moving-block resamples of range(n): each ⌈n/block⌉ random blocks, cut to n."""
    block = int(max(1, min(block, n // 2)))
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, n - block + 1, size=(boot, math.ceil(n / block)))
    return (starts[:, :, None] + np.arange(block)[None, None, :]).reshape(boot, -1)[:, :n], block


def block_bootstrap(values: np.ndarray, q: float, block: int, boot: int = BOOT, seed: int = SEED) -> Interval | None:
    """Moving-block bootstrap 95 % interval of the ``q``-th percentile of ``values`` (in order)."""
    n = values.size
    if n < 4:
        return None
    idx, block = _block_indices(n, block, boot, seed)
    factor = small_sample_factor(n / block)
    if factor is None:
        return None
    est = np.percentile(values[idx], q, axis=1)
    lo, hi = _widen(*np.percentile(est, [2.5, 97.5]), float(np.percentile(values, q)), factor)
    return Interval(lo=float(max(lo, 0.0)), hi=float(hi), n=int(n),
                    method=f"block bootstrap (block {block}, {n / block:.1f} blocks)")


def mean_in_flight(recs: Sequence[RequestRecord], window_s: float) -> float:
    """Little's law: total time requests spent in flight / window = mean requests in flight."""
    if window_s <= 0:
        return 1.0
    busy = sum((r.done_ns - core.start_ns(r)) / 1e9 for r in recs)
    return max(1.0, busy / window_s)


def cost_interval(tput: Interval | None, price_per_hour: float | None) -> Interval | None:
    """$ per 1M tokens is price / throughput: the throughput interval's ends map to swapped ends."""
    if tput is None or price_per_hour is None or tput.lo <= 0:
        return None
    per = lambda t: price_per_hour * 1e6 / t / 3600.0  # noqa: E731
    return Interval(lo=per(tput.hi), hi=per(tput.lo), n=tput.n, method=tput.method)


def closed_loop_rates(ok: Sequence[RequestRecord], block: int, boot: int = BOOT,
                      seed: int = SEED) -> dict[str, tuple[float, float]] | None:
    """Relative 95 % bounds of a closed loop's long-run rates, from its requests (Little's law).

    N users each cycle through requests (cycle = ``done − scheduled``: lag + E2E), so tokens/s =
    N · Σ tokens / Σ cycles and requests/s = N · n / Σ cycles. A moving-block bootstrap over the
    requests (in send order) gives each ratio's spread; the bounds are returned relative to the
    ratio on all requests, to be applied to the window's own figure.
    """
    n = len(ok)
    if n < 8:
        return None
    tokens = np.array([float(r.output_tokens or 0) for r in ok])
    cycle = np.array([max(1, r.done_ns - r.scheduled_ns) / 1e9 for r in ok])
    idx, block = _block_indices(n, block, boot, seed)
    factor = small_sample_factor(n / block)
    if factor is None:
        return None
    sums = cycle[idx].sum(axis=1)
    out = {}
    for name, num, whole in (("output_throughput_tok_s", tokens[idx].sum(axis=1), tokens.sum()),
                             ("request_throughput_rps", np.full(boot, float(n)), float(n))):
        ratio, point = num / sums, whole / cycle.sum()
        if point > 0:
            lo, hi = _widen(*np.percentile(ratio / point, [2.5, 97.5]), 1.0, factor)
            out[name] = (float(max(lo, 0.0)), float(hi))
    return out


def _rate_intervals(recs, ok, start_ns: int, end_ns: int, users: int, block: int) -> dict[str, Interval]:
    """Throughput intervals: the closed-loop ratio estimator where it applies, else batch means."""
    window_s = (end_ns - start_ns) / 1e9
    rel = closed_loop_rates(ok, block) if users > 0 else None
    out: dict[str, Interval] = {}
    if rel:
        rates = core.window_rates(recs, start_ns, end_ns)
        points = {"output_throughput_tok_s": rates.tok_s, "request_throughput_rps": rates.rps}
        for name, (lo, hi) in rel.items():
            out[name] = Interval(lo=points[name] * lo, hi=points[name] * hi, n=len(ok),
                                 method=f"closed-loop ratio, block bootstrap (block {block})")
        return out
    e2e = np.array([(r.done_ns - core.start_ns(r)) / 1e9 for r in ok])
    b = batch_count(window_s, float(np.median(e2e)))
    tok, req = rate_batches(recs, start_ns, end_ns, b)
    for name, arr in (("output_throughput_tok_s", tok), ("request_throughput_rps", req)):
        iv = t_interval(arr, f"batch means ({b} batches)")
        if iv is not None:
            out[name] = iv.model_copy(update={"lo": max(0.0, iv.lo)})
    return out


def run_intervals(records: Sequence[RequestRecord], start_ns: int, end_ns: int,
                  price_per_hour: float | None = None, users: int = 0) -> dict[str, Interval]:
    """Within-run 95 % intervals of every headline figure (measured records only).

    ``users`` > 0: a closed loop of that many users (its rates use the ratio estimator).
    """
    recs = sorted(core.measured(records), key=lambda r: r.sent_ns)
    window_s = (end_ns - start_ns) / 1e9
    ok = [r for r in recs if r.error is None]
    if window_s <= 0 or not ok:
        return {}
    block = round(mean_in_flight(ok, window_s))
    out = _rate_intervals(recs, ok, start_ns, end_ns, users, block)
    cost = cost_interval(out.get("output_throughput_tok_s"), price_per_hour)
    if cost is not None:
        out["cost_per_1m_tokens"] = cost
    for field, fn in _PER_REQUEST.items():
        vals = np.array(core.collect(fn(r) for r in ok), dtype=float)
        for stat, q in PERCENTILES:
            iv = block_bootstrap(vals, q, block)
            if iv is not None:
                out[f"{field}.{stat}"] = iv
    return out


_RATES = ("output_throughput_tok_s", "request_throughput_rps")


def host_allowance(ivs: dict[str, Interval], slowdown: float | None) -> dict[str, Interval]:
    """Widen intervals towards the figure at the host's typical speed when it ran ``slowdown`` x slower.

    A neighbour outside the machine (see ``sweep.speedprobe``) slowed the host's CPU during the cell
    (``slowdown`` > 1) or left it faster than usual (< 1). Cells are compared with each other, so
    each interval is stretched to cover the figure at the study's typical speed: at ``slowdown`` > 1
    rates' upper ends grow by the factor and latencies' and cost's lower ends shrink by it; at < 1
    rates' lower ends and latencies' and cost's upper ends move the other way. The measured figures
    stay as measured. Nothing changes when ``slowdown`` is 1 or unknown.
    """
    if not slowdown or slowdown == 1.0:
        return ivs
    out = {}
    for name, iv in ivs.items():
        faster_is_higher = name in _RATES  # a rate grows on a faster host; latencies and cost shrink
        side = "hi" if (slowdown > 1) == faster_is_higher else "lo"
        factor = slowdown if faster_is_higher else 1.0 / slowdown
        out[name] = iv.model_copy(update={side: getattr(iv, side) * factor,
                                          "method": f"{iv.method}; host {slowdown:.2f}x its typical time"})
    return out


def half_width(iv: Interval | None, point: float | None) -> float | None:
    """Relative half-width ``(hi - lo) / 2 / |point|``; None when it cannot be said."""
    if iv is None or point is None or point == 0:
        return None
    return (iv.hi - iv.lo) / 2.0 / abs(point)


def overlap(a: Interval | None, b: Interval | None) -> bool:
    """Two intervals share a point (a missing interval cannot separate anything: True)."""
    if a is None or b is None:
        return True
    return a.lo <= b.hi and b.lo <= a.hi


def point_values(records: Sequence[RequestRecord], start_ns: int, end_ns: int) -> dict[str, float | None]:
    """The point estimates that :func:`run_intervals` brackets (same definitions as ``summarize``)."""
    recs = core.measured(records)
    window_s = (end_ns - start_ns) / 1e9
    out: dict[str, float | None] = {}
    if window_s <= 0:
        return out
    rates = core.window_rates(recs, start_ns, end_ns)
    out["output_throughput_tok_s"], out["request_throughput_rps"] = rates.tok_s, rates.rps
    for field, fn in _PER_REQUEST.items():
        vals = core.collect(fn(r) for r in recs)
        for stat, q in PERCENTILES:
            out[f"{field}.{stat}"] = float(np.percentile(vals, q)) if vals else None
    return out


MIN_BLOCKS = 4
"""An adaptive window never stops on fewer independent blocks than this (n / mean requests in flight):
two waves of 8 requests once claimed ±3 % and moved by 67 % in the next run."""


def precision_met(records: Sequence[RequestRecord], start_ns: int, end_ns: int, target: float,
                  figures: Sequence[str] = HEADLINE, users: int = 0) -> tuple[bool, dict[str, float | None]]:
    """Whether every named figure's interval is within ``target`` (and the window holds at least
    :data:`MIN_BLOCKS` independent blocks of requests); also each figure's half-width."""
    ivs = run_intervals(records, start_ns, end_ns, users=users)
    pts = point_values(records, start_ns, end_ns)
    widths = {name: half_width(ivs.get(name), pts.get(name)) for name in figures}
    ok = [r for r in core.measured(records) if r.error is None]
    window_s = (end_ns - start_ns) / 1e9
    enough = bool(ok) and len(ok) >= MIN_BLOCKS * mean_in_flight(ok, window_s)
    return enough and all(w is not None and w <= target for w in widths.values()), widths
