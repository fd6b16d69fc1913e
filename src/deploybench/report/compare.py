"""Compare two runs or two studies cell by cell.

Cells are matched by (deployment, concurrency); when both sides hold a single deployment (e.g.
the same server measured before and after a change, under two names) by concurrency alone.

A change is *beyond noise* only when the data can say so:

* both sides measured in ``rounds >= 2``: the spread **between rounds** is known, so the change is
  judged with a Welch 95 % interval on the difference of the round means (``method = "between
  rounds"``; rounds of two studies were not measured side by side, so they cannot be paired);
* otherwise each side has only its **within-run** 95 % intervals (batch means for rates, a block
  bootstrap for percentiles, see docs/metrics.md): the change is beyond noise only when the two
  intervals do not overlap, and the comparison says that run-to-run variation was not measured
  (``method = "within-run intervals"``; rerun both with ``--rounds 3`` to know).

Error rate and tail percentiles (p99) are shown as plain changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from scipy import stats as sstats

from ..metrics.intervals import overlap
from ..metrics.rounds import combine_all
from ..schemas import RunSummary
from .data import Cell, Store, load_store

Reader = Callable[[RunSummary], float | None]
# key, title, interval key in RunSummary.intervals, reader, higher_is_better
JUDGED: list[tuple[str, str, str, Reader, bool]] = [
    ("output_tok_s", "output tok/s", "output_throughput_tok_s", lambda s: s.output_throughput_tok_s, True),
    ("request_rps", "req/s", "request_throughput_rps", lambda s: s.request_throughput_rps, True),
    ("ttft_p50_ms", "TTFT p50 (ms)", "ttft_ms.p50", lambda s: s.ttft_ms.p50, False),
    ("ttft_p90_ms", "TTFT p90 (ms)", "ttft_ms.p90", lambda s: s.ttft_ms.p90, False),
    ("tpot_p50_ms", "TPOT p50 (ms)", "tpot_ms.p50", lambda s: s.tpot_ms.p50, False),
    ("tpot_p90_ms", "TPOT p90 (ms)", "tpot_ms.p90", lambda s: s.tpot_ms.p90, False),
    ("e2e_p50_ms", "E2E p50 (ms)", "e2e_ms.p50", lambda s: s.e2e_ms.p50, False),
    ("e2e_p90_ms", "E2E p90 (ms)", "e2e_ms.p90", lambda s: s.e2e_ms.p90, False),
    ("ms_per_token_p50", "ms/token p50", "ms_per_token.p50", lambda s: s.ms_per_token.p50, False),
    ("cost_per_1m_tokens", "$ per 1M tok", "cost_per_1m_tokens", lambda s: s.cost_per_1m_tokens, False),
]
PLAIN: list[tuple[str, str, Reader, bool]] = [
    ("ttft_p99_ms", "TTFT p99 (ms)", lambda s: s.ttft_ms.p99, False),
    ("error_rate", "error rate", lambda s: s.error_rate, False),
    # imported cells' TGI time_per_token: its own row, never compared with the client's ms/token
    ("server_ms_per_token_p50", "server ms/token p50 (TGI)", lambda s: s.server_ms_per_token.p50, False),
]
WITHIN = "within-run intervals (one round: run-to-run variation not measured; rerun both with --rounds 3)"


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
    trials_a: int = 1
    trials_b: int = 1
    method: str = WITHIN
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


def compare(a: Path | str | Store, b: Path | str | Store, confidence: float = 0.95, **_ignored) -> Comparison:
    """Match the cells of ``a`` and ``b`` and judge each figure's change from a to b against noise."""
    sa = a if isinstance(a, Store) else load_store(a)
    sb = b if isinstance(b, Store) else load_store(b)
    by_conc = len(sa.deployments) == 1 and len(sb.deployments) == 1
    ka, kb = _keyed(sa, by_conc), _keyed(sb, by_conc)
    cells = [_compare_cells(key, ka[key], kb[key], confidence) for key in ka if key in kb]
    return Comparison(a=str(sa.root), b=str(sb.root), matched_by="concurrency" if by_conc else "deployment+concurrency",
                      confidence=confidence, resamples=0, seed=0, cells=cells,
                      only_a=[_key_text(k) for k in ka if k not in kb],
                      only_b=[_key_text(k) for k in kb if k not in ka])


def _keyed(store: Store, by_concurrency: bool) -> dict[tuple, list[Cell]]:
    """Cells by key; the trials of one cell stay together."""
    out: dict[tuple, list[Cell]] = {}
    for c in store.cells:
        level = c.summary.level or f"c{c.concurrency}"
        key = ("", level) if by_concurrency else (c.deployment, level)
        out.setdefault(key, []).append(c)
    return out


def _key_text(key: tuple) -> str:
    dep, level = key
    text = f"c={level[1:]}" if level.startswith("c") and level[1:].isdigit() else level
    return f"{dep} @ {text}" if dep else text


def _compare_cells(key: tuple, ca: list[Cell], cb: list[Cell], confidence: float) -> CellComparison:
    (sa,), (sb,) = combine_all([c.summary for c in ca]), combine_all([c.summary for c in cb])
    between = sa.trials >= 2 and sb.trials >= 2
    out = CellComparison(key=_key_text(key), deployment_a=sa.deployment, deployment_b=sb.deployment,
                         concurrency=sa.concurrency, run_a=sa.run_id, run_b=sb.run_id,
                         n_a=sa.requests, n_b=sb.requests, trials_a=sa.trials, trials_b=sb.trials,
                         method=f"between rounds ({sa.trials} vs {sb.trials}, Welch; two studies cannot be "
                         "paired)" if between else WITHIN)
    for mkey, title, ikey, read, higher in JUDGED:
        ch = _plain(mkey, title, read(sa), read(sb), higher)
        if ch.change is not None:
            if between:
                _welch(ch, sa.round_values.get(ikey, []), sb.round_values.get(ikey, []), confidence)
            else:
                _by_overlap(ch, sa.intervals.get(ikey), sb.intervals.get(ikey))
            if ch.beyond_noise is not None:
                ch.verdict = ("better" if ch.improved else "worse") if ch.beyond_noise else "within noise"
        out.changes.append(ch)
    for mkey, title, read, higher in PLAIN:
        out.changes.append(_plain(mkey, title, read(sa), read(sb), higher))
    return out


def _welch(ch: Change, xa: list, xb: list, confidence: float) -> None:
    """Welch interval on mean(b) - mean(a) from per-trial values."""
    xa, xb = [x for x in xa if x is not None], [x for x in xb if x is not None]
    if len(xa) < 2 or len(xb) < 2:
        ch.note = "a side lacks the figure in some rounds: not judged"
        return
    ma, mb = sum(xa) / len(xa), sum(xb) / len(xb)
    va = sum((x - ma) ** 2 for x in xa) / (len(xa) - 1) / len(xa)
    vb = sum((x - mb) ** 2 for x in xb) / (len(xb) - 1) / len(xb)
    se = math.sqrt(va + vb)
    diff = mb - ma
    if se == 0:
        ch.ci_low = ch.ci_high = diff
        ch.beyond_noise = diff != 0
        return
    df = (va + vb) ** 2 / ((va ** 2 / (len(xa) - 1)) + (vb ** 2 / (len(xb) - 1)) or 1e-300)
    half = float(sstats.t.ppf(0.5 + confidence / 2, df)) * se
    ch.ci_low, ch.ci_high = diff - half, diff + half
    ch.beyond_noise = ch.ci_low > 0 or ch.ci_high < 0


def _by_overlap(ch: Change, ia, ib) -> None:
    """Beyond noise only when both sides have intervals and they do not overlap."""
    if ia is None or ib is None:
        ch.note = "no interval on one side: not judged against noise"
        return
    ch.ci_low, ch.ci_high = ib.lo - ia.hi, ib.hi - ia.lo  # every difference the two intervals allow
    ch.beyond_noise = not overlap(ia, ib)


def _plain(key: str, title: str, a: float | None, b: float | None, higher_better: bool) -> Change:
    if a is None or b is None:
        return Change(key, title, a, b, None, None, note="missing on one side")
    diff = b - a
    pct = 100.0 * diff / abs(a) if a else None
    improved = None if diff == 0 else (diff > 0) == higher_better
    return Change(key, title, a, b, diff, pct, improved=improved)
