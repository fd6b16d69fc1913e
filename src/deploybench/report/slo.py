"""'Which is the cheapest deployment that meets my SLO?' — the data and the answer.

The HTML report lists every cell cheapest first with the figures an SLO is usually written on and
filters them in the page; this module computes the same answer in Python for the page's default
limits, so a reader without JavaScript (or the Markdown) sees it too. The page's script composes
its sentence from the same pre-formatted pieces, so both read alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..metrics import Constraint
from .data import Cell
from .render.columns import fmt_value


@dataclass(frozen=True)
class SloField:
    key: str
    short: str  # used in the answer sentence: "p90 TTFT ≤ 500 ms"
    unit: str
    read: Callable[[Cell], float | None]
    default: float | None = None


FIELDS: list[SloField] = [
    SloField("ttft_p90", "p90 TTFT", " ms", lambda c: c.summary.ttft_ms.p90, 500),
    SloField("tpot_p90", "p90 TPOT", " ms", lambda c: c.summary.tpot_ms.p90),
    SloField("e2e_p90", "p90 E2E", " ms", lambda c: c.summary.e2e_ms.p90),
    SloField("ms_per_token_p50", "median ms/token", " ms", lambda c: c.summary.ms_per_token.p50),
    SloField("error_pct", "errors", " %", lambda c: 100.0 * c.summary.error_rate),
]


@dataclass(frozen=True)
class Limit:
    key: str
    short: str
    unit: str
    text: str  # as the reader typed it
    value: float


# an --slo constraint that a page field can show: (stat, metric) -> (field key, scale)
_FROM_SLO = {("p90", "ttft_ms"): ("ttft_p90", 1.0), ("p90", "tpot_ms"): ("tpot_p90", 1.0),
             ("p90", "e2e_ms"): ("e2e_p90", 1.0), ("p50", "ms_per_token"): ("ms_per_token_p50", 1.0),
             (None, "error_rate"): ("error_pct", 100.0)}


def default_limits(cells: Sequence[Cell], slo: Sequence[Constraint] = ()) -> list[Limit]:
    """The page's starting limits: the report's --slo where the page has a field for it; else each
    field's default, where some cell has that figure (p90 TTFT ≤ 500 ms for measured runs)."""
    by_key = {f.key: f for f in FIELDS}
    from_slo = []
    for c in slo:
        hit = _FROM_SLO.get((c.stat, c.metric))
        if hit and c.op in ("<=", "<"):
            f, value = by_key[hit[0]], c.value * hit[1]
            from_slo.append(Limit(f.key, f.short, f.unit, f"{value:g}", value))
    if from_slo:
        return from_slo
    return [Limit(f.key, f.short, f.unit, fmt_value(f.default, "{:g}"), float(f.default))
            for f in FIELDS if f.default is not None and any(f.read(c) is not None for c in cells)]


def cell_entry(c: Cell, cost: float | None) -> dict[str, Any]:
    s = c.summary
    return {
        "run_id": c.run_id, "model": c.model, "concurrency": c.concurrency,
        "name": f"{c.deployment} ({c.model}, {c.quantization}, {c.hardware})",
        "cost": cost, "eligible": cost is not None,
        "headline": "—" if cost is None else f"${cost:.3f} per 1M tokens",
        "values": {f.key: f.read(c) for f in FIELDS},
        "detail": (f"p90 TTFT {fmt_value(s.ttft_ms.p90, '{:.1f}')} ms, p90 TPOT {fmt_value(s.tpot_ms.p90, '{:.1f}')} ms, "
                   f"median ms/token {fmt_value(s.ms_per_token.p50, '{:.2f}')}, "
                   f"{fmt_value(s.output_throughput_tok_s, '{:.1f}')} tokens/s"),
    }


def slo_data(cells: Sequence[Cell], cost_of: Callable[[Cell], float | None] | None = None) -> dict[str, Any]:
    """What the page's filter script reads: the fields, the wording, and the cells, best first.

    Cells are ranked cheapest per 1M tokens first (``cost_of`` gives the cost on the report's
    basis). When no cell has a price, they are ranked by output tokens/s instead: on one price
    per hour, more tokens/s is cheaper per token.
    """
    cost_of = cost_of or (lambda c: c.summary.cost_per_1m_tokens)
    costs = {c.run_id: cost_of(c) for c in cells}
    priced = any(v is not None for v in costs.values())
    if priced:
        ordered = sorted(cells, key=lambda c: (costs[c.run_id] is None, costs[c.run_id] or 0.0, c.deployment,
                                               c.concurrency))
        entries = [cell_entry(c, costs[c.run_id]) for c in ordered]
    else:
        ordered = sorted(cells, key=lambda c: (-c.summary.output_throughput_tok_s, c.deployment, c.concurrency))
        entries = [cell_entry(c, None) for c in ordered]
        for e, c in zip(entries, ordered):
            e["eligible"] = c.summary.output_throughput_tok_s > 0
            e["headline"] = f"{c.summary.output_throughput_tok_s:.1f} tokens/s"
    return {"fields": [{"key": f.key, "short": f.short, "unit": f.unit} for f in FIELDS],
            "lead": "Cheapest meeting" if priced else "No cell has a price; highest throughput meeting",
            "none": "No priced cell meets" if priced else "No cell meets",
            "cells": entries}


def meets(entry: dict[str, Any], limits: Sequence[Limit], model: str = "") -> bool:
    if model and entry["model"] != model:
        return False
    return all(entry["values"][lim.key] is not None and entry["values"][lim.key] <= lim.value for lim in limits)


def cheapest(entries: Sequence[dict[str, Any]], limits: Sequence[Limit], model: str = "") -> dict[str, Any] | None:
    """The first eligible entry (entries are best first) that meets every limit."""
    return next((e for e in entries if e["eligible"] and meets(e, limits, model)), None)


def answer(data: dict[str, Any], best: dict[str, Any] | None, limits: Sequence[Limit], model: str = "") -> str:
    """The sentence the page shows; its script builds the same one (keep the two in step)."""
    entries = data["cells"]
    conds = ", ".join(f"{lim.short} ≤ {lim.text}{lim.unit}" for lim in limits) or "no limit set"
    scope = f" among {model}" if model else ""
    if best is None:
        missing = "".join(f" {n} of {len(entries)} cells have no {lim.short} figure."
                          for lim in limits if (n := sum(e["values"][lim.key] is None for e in entries)))
        return f"{data['none']} {conds}{scope}.{missing} Loosen a limit, or measure more deployments."
    return (f"{data['lead']} {conds}{scope}: {best['name']} at {best['concurrency']} concurrent requests — "
            f"{best['headline']} ({best['detail']}).")
