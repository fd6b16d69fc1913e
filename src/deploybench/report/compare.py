"""Compare two runs or two studies cell by cell.

Cells are matched by (deployment, concurrency); when both sides hold a single deployment (e.g.
the same server measured before and after a change, under two names) by concurrency alone.
Latency medians (TTFT, TPOT, E2E, ms/token) come with a bootstrap confidence interval on the
difference of medians, computed from the per-request records of both runs: a change is *beyond
noise* when that interval excludes zero. Throughput, tail percentiles, error rate and cost are
shown as plain changes: they are one number per run, with no per-request spread to resample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import metrics
from ..schemas import RequestRecord, RunSummary
from .data import Cell, Store, load_store
from .stats import median_diff_ci

# key, title, per-request metric, summary attribute; lower is better for all of them
BOOTSTRAP_METRICS: list[tuple[str, str, Callable[[RequestRecord], float | None], str]] = [
    ("ttft_p50_ms", "TTFT p50 (ms)", metrics.ttft_ms, "ttft_ms"),
    ("tpot_p50_ms", "TPOT p50 (ms)", metrics.tpot_ms, "tpot_ms"),
    ("e2e_p50_ms", "E2E p50 (ms)", metrics.e2e_ms, "e2e_ms"),
    ("ms_per_token_p50", "ms/token p50", metrics.ms_per_token, "ms_per_token"),
]

# key, title, reader, higher_is_better
PLAIN_METRICS: list[tuple[str, str, Callable[[RunSummary], float | None], bool]] = [
    ("output_tok_s", "output tok/s", lambda s: s.output_throughput_tok_s, True),
    ("request_rps", "req/s", lambda s: s.request_throughput_rps, True),
    ("ttft_p90_ms", "TTFT p90 (ms)", lambda s: s.ttft_ms.p90, False),
    ("ttft_p99_ms", "TTFT p99 (ms)", lambda s: s.ttft_ms.p99, False),
    ("tpot_p90_ms", "TPOT p90 (ms)", lambda s: s.tpot_ms.p90, False),
    ("e2e_p90_ms", "E2E p90 (ms)", lambda s: s.e2e_ms.p90, False),
    ("error_rate", "error rate", lambda s: s.error_rate, False),
    ("cost_per_1m_tokens", "$ per 1M tok", lambda s: s.cost_per_1m_tokens, False),
]


@dataclass
class Change:
    metric: str
    title: str
    a: float | None
    b: float | None
    change: float | None  # b - a
    change_pct: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    beyond_noise: bool | None = None  # None: no interval (plain metric, or no records)
    verdict: str = ""  # "better" / "worse" / "within noise" / "" (not judged against noise)
    improved: bool | None = None  # the change goes the good way (None: no change or no value)
    note: str = ""


@dataclass
class CellComparison:
    key: str
    deployment_a: str
    deployment_b: str
    concurrency: int
    run_a: str
    run_b: str
    n_a: int
    n_b: int
    changes: list[Change] = field(default_factory=list)


@dataclass
class Comparison:
    a: str
    b: str
    matched_by: str  # "deployment+concurrency" | "concurrency"
    confidence: float
    resamples: int
    seed: int
    cells: list[CellComparison]
    only_a: list[str]
    only_b: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(a: Path | str | Store, b: Path | str | Store, resamples: int = 2000, confidence: float = 0.95,
            seed: int = 0) -> Comparison:
    """Match the cells of ``a`` and ``b`` and measure each metric's change from a to b."""
    sa = a if isinstance(a, Store) else load_store(a)
    sb = b if isinstance(b, Store) else load_store(b)
    by_conc = len(sa.deployments) == 1 and len(sb.deployments) == 1
    ka, kb = _keyed(sa, by_conc), _keyed(sb, by_conc)
    cells = [_compare_cells(key, ka[key], kb[key], resamples, confidence, seed) for key in ka if key in kb]
    return Comparison(a=str(sa.root), b=str(sb.root), matched_by="concurrency" if by_conc else "deployment+concurrency",
                      confidence=confidence, resamples=resamples, seed=seed, cells=cells,
                      only_a=[_key_text(k) for k in ka if k not in kb],
                      only_b=[_key_text(k) for k in kb if k not in ka])


def _keyed(store: Store, by_concurrency: bool) -> dict[tuple, Cell]:
    out: dict[tuple, Cell] = {}
    for c in store.cells:
        key = ("", c.concurrency) if by_concurrency else (c.deployment, c.concurrency)
        out.setdefault(key, c)  # a study holds one run per cell; keep the first if not
    return out


def _key_text(key: tuple) -> str:
    dep, conc = key
    return f"{dep} @ c={conc}" if dep else f"c={conc}"


def _compare_cells(key: tuple, ca: Cell, cb: Cell, resamples: int, confidence: float, seed: int) -> CellComparison:
    out = CellComparison(key=_key_text(key), deployment_a=ca.deployment, deployment_b=cb.deployment,
                         concurrency=ca.concurrency, run_a=ca.run_id, run_b=cb.run_id,
                         n_a=len(ca.records), n_b=len(cb.records))
    for mkey, title, fn, attr in BOOTSTRAP_METRICS:
        out.changes.append(_bootstrapped(mkey, title, fn, attr, ca, cb, resamples, confidence, seed))
    for mkey, title, read, higher_better in PLAIN_METRICS:
        out.changes.append(_plain(mkey, title, read(ca.summary), read(cb.summary), higher_better))
    return out


def _values(cell: Cell, fn: Callable[[RequestRecord], float | None]) -> np.ndarray:
    return np.array([v for v in (fn(r) for r in cell.records) if v is not None], dtype=float)


def _bootstrapped(key: str, title: str, fn, attr: str, ca: Cell, cb: Cell, resamples: int, confidence: float,
                  seed: int) -> Change:
    xa, xb = _values(ca, fn), _values(cb, fn)
    if xa.size < 2 or xb.size < 2:  # imported data or an empty run: the summaries' medians, plainly
        ch = _plain(key, title, getattr(ca.summary, attr).p50, getattr(cb.summary, attr).p50, False)
        ch.note = "no per-request records on both sides: no confidence interval"
        return ch
    ci = median_diff_ci(xa, xb, resamples=resamples, confidence=confidence, seed=seed)
    ch = _plain(key, title, float(np.median(xa)), float(np.median(xb)), False)
    assert ci is not None
    ch.ci_low, ch.ci_high, ch.beyond_noise = ci.low, ci.high, ci.excludes_zero
    ch.verdict = ("better" if ci.estimate < 0 else "worse") if ci.excludes_zero else "within noise"
    return ch


def _plain(key: str, title: str, a: float | None, b: float | None, higher_better: bool) -> Change:
    if a is None or b is None:
        return Change(key, title, a, b, None, None, note="missing on one side")
    diff = b - a
    pct = 100.0 * diff / abs(a) if a else None
    improved = None if diff == 0 else (diff > 0) == higher_better
    return Change(key, title, a, b, diff, pct, improved=improved)
