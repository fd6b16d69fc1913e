"""The self-contained HTML report: works offline (plotly.js inlined, no network), every name escaped.

Data reaches the page only as text escaped with :func:`html.escape` or as JSON inside
``<script type="application/json">`` with ``<``, ``>`` and ``&`` written as ``\\u003c`` etc. A
Content-Security-Policy lets only the report's own (nonce-tagged) scripts run and forbids any
network access, so a name that slipped through escaping still could not run or phone home.
"""

from __future__ import annotations

import html
import json
import math
import secrets
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import plotly.io as pio
from plotly.offline import get_plotlyjs

from .. import storage
from . import charts as charts_mod
from . import slo as slo_mod
from .context import ReportContext
from ._html_assets import CSS, ERROR_CATCHER, OPEN_NOTES, RENDER_CHARTS, SLO_FILTER
from .render.html import _finite, h, html_table, safe_json  # noqa: F401 (importable from here as before)
from .render.markdown import DEFINITIONS
from .picks import Recommendation, cost_reader
from .render.columns import Column
from .tables import CELL_COLUMNS, STUDY_COLUMNS, TTFT_SPLIT_COLUMNS, TTFT_SPLIT_NOTE, split_cells
from .quality import chart as quality_chart
from .quality import html_section as quality_section
from .pruned import html_section as pruned_section
from .interactivity import html_section as interactivity_section


# --------------------------------------------------------------------------- sections


def _fig(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"


def _card(title: str, pick: Any) -> str:
    """One pick: deployment and level, figure ± its interval, margin or ties; the rule in a tooltip."""
    head = f'<div class="card-head">{h(title)} · {h(pick.group)}</div>'
    rule = f"Rule: {pick.rule}" + (f" ({pick.tie_rule})" if pick.tie_rule else "")
    if pick.run_id is None:
        return (f'<div class="pick-card none" title="{h(rule)}">{head}'
                f'<div class="card-margin">no pick: {h(pick.note or "no cell qualifies")}</div></div>')
    iv = pick.interval
    half = (f' <span class="card-iv">±{(iv.hi - iv.lo) / 2 / abs(pick.value):.0%} '
            f"(95 %: {h(_fig(iv.lo))}–{h(_fig(iv.hi))})</span>") if iv and pick.value else ""
    if pick.tie and pick.tied_with:
        margin = "tie with " + ", ".join(pick.tied_with)
    elif pick.runner_up is not None and pick.margin is not None:
        margin = f"clear: {pick.margin_text}"
    else:
        out = pick.left_out_here()
        margin = "only candidate" + (f" ({len(out)} at its level flagged and left out)" if out else "")
    cls = "pick-card tie" if pick.tie else "pick-card"
    return (f'<div class="{cls}" title="{h(rule)}" data-run-id="{h(pick.run_id)}">{head}'
            f'<div class="card-dep">{h(pick.deployment)} @ c={h(pick.concurrency)}</div>'
            f'<div class="card-fig">{h(_fig(pick.value))} {h(pick.unit)}{half}</div>'
            f'<div class="card-margin">{h(margin)}</div></div>')


def picks_cards(recs: Sequence[Recommendation]) -> str:
    """The report's first answer: one card per pick (scenario x model); the full tables follow below."""
    cards = [_card(rec.title, p) for rec in recs for p in rec.picks]
    if not cards:
        return '<section id="picks"><p class="muted">No picks: no cells to recommend from.</p></section>'
    return (f'<section id="picks"><div class="cards">{"".join(cards)}</div><p class="muted">Hover a card for '
            'its rule; <a href="#recommendations">Recommendations</a> has each pick\'s full figures.</p></section>')


def caveats_line(notes: Sequence[str]) -> str:
    """One line: each note's few words, linking to it in the Notes section."""
    if not notes:
        return ""
    links = " · ".join(f'<a href="#note-{i}">{h(getattr(n, "short", None) or n[:40])}</a>'
                       for i, n in enumerate(notes, 1))
    return f'<p id="caveats"><strong>Caveats:</strong> {links}</p>'


def notes_section(notes: Sequence[str]) -> str:
    """Every note in full (cell names included), folded away until asked for."""
    if not notes:
        return ""
    body = "".join(f'<p class="note" id="note-{i}">{h(n)}</p>' for i, n in enumerate(notes, 1))
    return f'<details id="notes"><summary>Notes ({len(notes)})</summary>{body}</details>'


def recommendations_section(recs: Sequence[Recommendation]) -> str:
    parts = ['<section id="recommendations"><h2>Recommendations</h2>',
             '<p class="muted">Each table is preceded by the rule that produced it. The columns are those of '
             "the 2023 Llama 2 SageMaker study.</p>"]
    for rec in recs:
        parts.append(f'<h3 id="pick-{h(rec.scenario)}">{h(rec.title)}</h3>')
        for rule in rec.rules or ["(no rule reported)"]:
            parts.append(f'<p class="rule"><strong>Rule:</strong> {h(rule)}</p>')
        if rec.rows:
            parts.append(html_table(STUDY_COLUMNS, rec.rows))
        extras = [f"<li>{h(r.group)}: {h(r.margin_text)}</li>" for r in rec.rows if r.margin_text]
        extras += [f"<li>{h(n)}</li>" for n in rec.notes]
        if extras:
            parts.append(f"<ul class=\"muted\">{''.join(extras)}</ul>")
    parts.append("</section>")
    return "\n".join(parts)


SLO_COLUMNS = [
    Column("rank", "#", lambda e: e["rank"]),
    Column("name", "deployment (model, quantization, hardware)", lambda e: e["name"]),
    Column("concurrency", "concurrency", lambda e: e["concurrency"], "{:d}"),
    Column("cost", "$ per 1M tok", lambda e: e["cost"], "{:.3f}"),
    *[Column(f.key, f"{f.short}{' (' + f.unit.strip() + ')' if f.unit.strip() else ''}",
             (lambda k: lambda e: e["values"][k])(f.key), "{:.2f}" if f.key == "ms_per_token_p50" else "{:.1f}")
      for f in slo_mod.FIELDS],
]


def slo_section(ctx: ReportContext) -> tuple[str, dict[str, Any]]:
    data = slo_mod.slo_data(ctx.store.cells, cost_reader(ctx.store, ctx.basis))
    entries = data["cells"]
    for i, e in enumerate(entries, 1):
        e["rank"] = i
    limits = slo_mod.default_limits(ctx.store.cells, ctx.slo)
    start = {lim.key: lim.text for lim in limits}
    best = slo_mod.cheapest(entries, limits)
    inputs = "".join(
        f'<label for="slo-{f.key}">{h(f.short)} ≤ ({h(f.unit.strip())})'
        f'<input type="number" min="0" step="any" id="slo-{f.key}" name="{f.key}" '
        f'value="{h(start.get(f.key, ""))}" placeholder="no limit"></label>'
        for f in slo_mod.FIELDS)
    models = "".join(f'<option value="{h(m)}">{h(m)}</option>' for m in dict.fromkeys(e["model"] for e in entries))
    form = (f'<form id="slo-form" autocomplete="off">{inputs}'
            f'<label for="slo-model">model<select id="slo-model"><option value="">all models</option>{models}</select></label>'
            '<label for="slo-hide" style="flex-direction:row;gap:4px;align-items:center">'
            '<input type="checkbox" id="slo-hide"> hide cells that miss</label></form>')
    run_id = best["run_id"] if best else ""
    priced = data["lead"].startswith("Cheapest")
    order = ("cheapest per 1M output tokens first" if priced else
             "highest output tokens/s first (no cell has a price per hour; on one price, more tokens/s is cheaper)")
    with_price = " with a price" if priced else ""
    body = (
        '<section id="slo"><h2>Cheapest deployment meeting an SLO</h2>'
        '<p class="muted">Type the limits your service needs (empty = no limit). Every cell is listed below, '
        f"{order}; rows meeting all limits are green, and the first green row{with_price} — the answer — is bold "
        "and repeated here. The same question from the command line (answered per model): "
        "<code>deploybench recommend DIR --scenario cost --slo \"p90_ttft_ms&lt;=500\"</code>. Cells without a "
        "figure (e.g. imported data has no TTFT) cannot meet a limit on it.</p>"
        f"{form}<p id=\"slo-answer\" class=\"{'found' if best else 'none'}\" data-run-id=\"{h(run_id)}\">"
        f"{h(slo_mod.answer(data, best, limits))}</p>"
        f"{html_table(SLO_COLUMNS, entries, 'slo-table', lambda e: _slo_row_attrs(e, limits, best))}</section>")
    return body, data


def _slo_row_attrs(entry: dict[str, Any], limits, best) -> str:
    cls = "meets" if slo_mod.meets(entry, limits) else "misses"
    if entry is best:
        cls += " best"
    return f' class="{cls}" data-run-id="{h(entry["run_id"])}"'


def charts_section(ctx: ReportContext) -> tuple[str, list[str]]:
    cost_of = cost_reader(ctx.store, ctx.basis)
    charts, notes = charts_mod.all_charts(ctx.store.cells, ctx.pareto, ctx.recommendations, cost_of)
    charts += [c for c in [quality_chart(ctx)] if c is not None]
    parts = ['<section id="charts"><h2>Charts</h2>']
    figs: list[str] = []
    for ch in charts:
        parts.append(f'<figure id="fig-{h(ch.id)}"><h3>{h(ch.title)}</h3>'
                     f'<div id="{h(ch.id)}" class="chart plotly-graph-div"></div>'
                     f"<figcaption>{h(ch.explain)}</figcaption></figure>")
        figs.append(f"{json.dumps(ch.id)}: {pio.to_json(ch.figure, validate=False)}")
    parts += [f'<p class="note">{h(n)}</p>' for n in notes]
    parts.append("</section>")
    return "\n".join(parts), figs


def ttft_split_section(ctx: ReportContext) -> str:
    """Where time to first token goes, per cell (empty when no cell has a split)."""
    cells = split_cells(ctx.store.cells)
    if not cells:
        return ""
    return (f'<section id="ttft-split"><h2>Where time to first token goes</h2><p class="muted">{h(TTFT_SPLIT_NOTE)}'
            f"</p>{html_table(TTFT_SPLIT_COLUMNS, cells)}</section>")


def cells_section(ctx: ReportContext) -> str:
    return ('<section id="cells"><h2>All cells</h2><p class="muted">One row per deployment × load level. '
            f"{h(DEFINITIONS)}</p>{html_table(CELL_COLUMNS, ctx.store.cells)}</section>")


# --------------------------------------------------------------------------- page


def render(ctx: ReportContext) -> str:
    nonce = secrets.token_urlsafe(16)
    slo_html, slo_data = slo_section(ctx)
    charts_html, figs = charts_section(ctx)
    interactivity_html, more_figs = interactivity_section(ctx)
    figs = "{" + ", ".join(figs + more_figs) + "}"
    csp = ("default-src 'none'; "
           f"script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src data: blob:; font-src data:; "
           "connect-src 'none'; base-uri 'none'; form-action 'none'")
    title = f"deploybench report — {ctx.store.root}"
    facts = "".join(f"<li>{h(f)}</li>" for f in ctx.facts())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{h(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{h(title)}</title>
<script nonce="{nonce}">{ERROR_CATCHER}</script>
<style>{CSS}</style>
<script nonce="{nonce}">{get_plotlyjs()}</script>
</head><body>
<header><h1>{h(title)}</h1><ul class="facts">{facts}</ul>
<nav><a href="#picks">Picks</a><a href="#recommendations">Recommendations</a><a href="#slo">Cheapest meeting an SLO</a>
<a href="#charts">Charts</a><a href="#quality">Quality</a><a href="#ttft-split">TTFT split</a>
<a href="#cells">All cells</a><a href="#notes">Notes</a></nav></header>
<pre id="js-errors" hidden></pre>
{caveats_line(ctx.notes)}
{picks_cards(ctx.recommendations)}
{slo_html}
{notes_section(ctx.notes)}
{recommendations_section(ctx.recommendations)}
{charts_html}
{interactivity_html}
{quality_section(ctx)}
{ttft_split_section(ctx)}
{pruned_section(ctx)}
{cells_section(ctx)}
<script type="application/json" id="slo-data">{safe_json(slo_data)}</script>
<script type="application/json" id="chart-data">{safe_json(figs)}</script>
<script nonce="{nonce}">{SLO_FILTER}</script>
<script nonce="{nonce}">{OPEN_NOTES}</script>
<script nonce="{nonce}">{RENDER_CHARTS}</script>
</body></html>
"""


def write_html(ctx: ReportContext, out: Path) -> list[Path]:
    path = out / "report.html"
    storage.atomic_write(path, render(ctx))
    return [path]
