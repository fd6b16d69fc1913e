"""Everything one report shows, computed once and handed to each format."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..metrics import Constraint
from ..schemas import FLAGS, ConfigError
from .data import Store, load_store
from .picks import FrontPoint, Recommendation, pareto_front, recommendations
from .roofline import of_cell

BASES = ("deploybench", "study")


class Note(str):
    """A report note (its full text, as every format prints it) with ``short``: a few words for the HTML
    report's one line of caveats, which links to the note."""

    short: str

    def __new__(cls, text: str, short: str) -> "Note":
        note = super().__new__(cls, text)
        note.short = short
        return note


@dataclass
class ReportContext:
    store: Store
    recommendations: list[Recommendation]
    pareto: list[FrontPoint]
    slo: list[Constraint] = field(default_factory=list)
    basis: str = "deploybench"
    generated_at: str = field(default_factory=lambda: time.strftime("%Y-%m-%d %H:%M:%S %Z"))
    notes: list[str] = field(default_factory=list)

    def facts(self) -> list[str]:
        s = self.store
        imported = sum(c.imported for c in s.cells)
        with_records = sum(c.has_records for c in s.cells)
        out = [f"generated {self.generated_at}",
               f"{len(s.cells)} cells, {len(s.deployments)} deployments",
               f"per-request records: {with_records} of {len(s.cells)} cells",
               f"recommendation basis: {self.basis}" + (
                   " (tokens/s, minutes and $ per 1M tokens of the picks use the imported study's own "
                   "throughput figure)" if self.basis == "study" else " (measured figures)")]
        if imported:
            per_request = sum(c.imported and c.has_records for c in s.cells)
            out.append(f"{imported} cells imported from elsewhere: {imported - per_request} summary-only (figures as "
                       f"published, under the source's definitions), {per_request} with per-request records "
                       "(deploybench's metrics recomputed from them)")
        if self.slo:
            out.append("SLO: " + ", ".join(map(str, self.slo)))
        return out


def build_context(path_or_store, slo: Sequence[Constraint] | None = None, basis: str = "deploybench") -> ReportContext:
    if basis not in BASES:
        raise ConfigError(f"--basis: unknown basis '{basis}'", f"use one of: {', '.join(BASES)}")
    store = path_or_store if isinstance(path_or_store, Store) else load_store(path_or_store)
    ctx = ReportContext(store=store, recommendations=recommendations(store, slo, basis),
                        pareto=pareto_front(store, basis), slo=list(slo or []), basis=basis)
    if any(c.summary.price_per_hour is None for c in store.cells):
        ctx.notes.append(Note("some cells have no price per hour: their cost columns are empty "
                              "(give --price-per-hour, or a hardware price in the study)", "cells without a price"))
    for flag, meaning in FLAGS.items():
        hit = [c.run_id for c in store.cells if flag in c.summary.flags]
        if hit:
            ctx.notes.append(Note(f"{len(hit)} of {len(store.cells)} cells flagged {flag}: {meaning} "
                                  f"({', '.join(hit[:6])}{', …' if len(hit) > 6 else ''})",
                                  f"{len(hit)} cell{'s' if len(hit) > 1 else ''} {flag}"))
    ctx.notes.extend(import_notes(store.cells))
    mixed = [c for c in store.cells if c.summary.errors_by_kind]
    if mixed:
        ctx.notes.append(Note(error_mix_note(mixed), f"{len(mixed)} cell{'s' if len(mixed) > 1 else ''} "
                              "with failed requests"))
    roof = roofline_note(ctx)
    if roof:
        ctx.notes.append(Note(roof, "% of roofline"))
    if any(c.summary.intervals for c in store.cells):
        ctx.notes.append(Note(rounds_note(store.cells), "how ± and ties are decided"))
    return ctx


def import_notes(cells) -> list[Note]:
    """Per tool imported: where its definitions differ from ours, what it does not give, where window figures
    come from; and which cells give means where a percentile is expected (docs/import.md)."""
    tools: dict[str, list] = {}
    for c in cells:
        if c.imported and c.meta.labels.get("tool"):
            tools.setdefault(c.meta.labels["tool"], []).append(c)
    out = []
    for tool, group in tools.items():
        ext = group[0].meta.external
        missing = sorted({m for c in group for m in c.summary.missing})
        window = {(c.meta.external.get("tool_window") or {}).get("basis") for c in group} - {None}
        text = f"imported from {tool} ({len(group)} cells)"
        if ext.get("definitions"):
            text += f": {ext['definitions']}"
        if missing:
            text += f"; not given (null, never invented): {', '.join(missing)}"
        if window:
            text += f"; window figures: {'; '.join(sorted(window))}"
        out.append(Note(text, f"imported from {tool}"))
    means = [f"{c.run_id} ({', '.join(k[:-5] for k, v in c.meta.labels.items() if k.endswith('_stat') and v == 'mean')})"
             for c in cells if any(k.endswith("_stat") for k in c.meta.labels)]
    if means:
        out.append(Note("these cells give means, not percentiles, for: " + "; ".join(means), "means, not percentiles"))
    return out


def rounds_note(cells) -> str:
    """How the ± figures and ties were decided: rounds (which design each cell got) or one run."""
    designs: dict[str, int] = {}
    for c in cells:
        if c.summary.trials > 1:
            key = f"{c.summary.trials} rounds, {c.summary.round_design or 'interleaved'}"
            designs[key] = designs.get(key, 0) + 1
    single = sum(1 for c in cells if c.summary.trials <= 1 and c.summary.intervals)
    parts = [f"{n} cell(s) in {k}" for k, n in sorted(designs.items())]
    if single:
        parts.append(f"{single} cell(s) in one round (within-run intervals: batch means for rates, a block "
                     "bootstrap for percentiles)")
    return ("± figures are 95 % intervals over each cell's rounds; a pick is clear only when a paired test over "
            "rounds says so, else a tie (docs/metrics.md, \"Rounds\"): " + "; ".join(parts))


def error_mix_note(cells) -> str:
    """One line: the failed requests of each cell that had any, by kind (docs/metrics.md, errors)."""
    parts = [f"{c.run_id}: " + ", ".join(f"{n} {kind}" for kind, n in c.summary.errors_by_kind.items())
             for c in cells[:8]]
    more = f"; and {len(cells) - 8} more cells" if len(cells) > 8 else ""
    return f"failed requests by kind ({len(cells)} cells with errors): " + "; ".join(parts) + more


def roofline_note(ctx: ReportContext) -> str | None:
    """One line: how close each picked cell comes to its hardware's roofline (docs/predict.md)."""
    seen, parts = set(), []
    for rec in ctx.recommendations:
        for row in rec.rows:
            cell = getattr(row, "cell", None)
            if cell is None or id(cell) in seen:
                continue
            seen.add(id(cell))
            rf = of_cell(cell)
            if rf is not None:
                parts.append(f"{cell.deployment} @ c={cell.concurrency} {rf.text}")
    if not parts:
        return None
    return ("roofline (decode step bound by peak memory bandwidth or FLOP/s vs the measured step; docs/predict.md): "
            + "; ".join(parts))
