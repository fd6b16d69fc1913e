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

from .data import Cell
from .tables import by_cost, fmt_value


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


def default_limits() -> list[Limit]:
    return [Limit(f.key, f.short, f.unit, fmt_value(f.default, "{:g}"), float(f.default))
            for f in FIELDS if f.default is not None]


def cell_entry(c: Cell) -> dict[str, Any]:
    s = c.summary
    return {
        "run_id": c.run_id, "model": c.model, "concurrency": c.concurrency,
        "name": f"{c.deployment} ({c.model}, {c.quantization}, {c.hardware})",
        "cost": s.cost_per_1m_tokens,
        "cost_text": "—" if s.cost_per_1m_tokens is None else f"${s.cost_per_1m_tokens:.3f}",
        "values": {f.key: f.read(c) for f in FIELDS},
        "detail": (f"p90 TTFT {fmt_value(s.ttft_ms.p90, '{:.1f}')} ms, p90 TPOT {fmt_value(s.tpot_ms.p90, '{:.1f}')} ms, "
                   f"median ms/token {fmt_value(s.ms_per_token.p50, '{:.2f}')}, "
                   f"{fmt_value(s.output_throughput_tok_s, '{:.1f}')} tokens/s"),
    }


def slo_data(cells: Sequence[Cell]) -> dict[str, Any]:
    """What the page's filter script reads: the fields and the cells, cheapest first."""
    return {"fields": [{"key": f.key, "short": f.short, "unit": f.unit} for f in FIELDS],
            "cells": [cell_entry(c) for c in by_cost(cells)]}


def meets(entry: dict[str, Any], limits: Sequence[Limit], model: str = "") -> bool:
    if model and entry["model"] != model:
        return False
    return all(entry["values"][lim.key] is not None and entry["values"][lim.key] <= lim.value for lim in limits)


def cheapest(entries: Sequence[dict[str, Any]], limits: Sequence[Limit], model: str = "") -> dict[str, Any] | None:
    """The first priced entry (entries are cheapest first) that meets every limit."""
    return next((e for e in entries if e["cost"] is not None and meets(e, limits, model)), None)


def answer(best: dict[str, Any] | None, limits: Sequence[Limit], model: str = "") -> str:
    """The sentence the page shows; its script builds the same one (keep the two in step)."""
    conds = ", ".join(f"{lim.short} ≤ {lim.text}{lim.unit}" for lim in limits) or "no limit"
    scope = f" among {model}" if model else ""
    if best is None:
        return f"No priced cell meets {conds}{scope}. Loosen a limit, or measure more deployments."
    return (f"Cheapest meeting {conds}{scope}: {best['name']} at {best['concurrency']} concurrent requests — "
            f"{best['cost_text']} per 1M tokens ({best['detail']}).")
