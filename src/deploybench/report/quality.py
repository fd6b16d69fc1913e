"""Quality in reports: per-cell quality columns, a per-deployment quality table (Markdown, CSV,
XLSX, HTML), and a cost-vs-quality chart with each model's Pareto front.

Quality is read from the study folder's ``quality.json`` (see :mod:`deploybench.quality`). Imported
data (the 2023 study) has none, and the report says so instead of leaving the columns blank
without a word.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import storage
from ..schemas.quality import QualityResult, QualityTable
from .data import Cell
from .picks import cost_reader
from .render.columns import Column
from .render.html import h, html_table
from .render.markdown import md_table, md_text
from .render.spreadsheet import safe_text

QUALITY_FILE = "quality.json"
NO_DATA_IMPORTED = ("Quality: no quality data. The imported study published latency, throughput and cost only; "
                    "it never measured what its quantizations (e.g. GPTQ) cost in output quality, so its "
                    "recommendations cannot be quality-gated.")
NO_DATA = ("Quality: not measured. Add `quality: {method: kld}` to the study (llama.cpp) or "
           "`quality: {method: agreement}` (any engine) and run it again; `deploybench quality MODEL` measures a "
           "quantization ladder on its own.")


@functools.lru_cache(maxsize=32)
def _table_at(folder: str, mtime_ns: int) -> QualityTable | None:
    try:
        return QualityTable.model_validate_json((Path(folder) / QUALITY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def table_for(folder: Path) -> QualityTable | None:
    """``quality.json`` in ``folder`` or its parent (a single run inside a study)."""
    for f in (Path(folder), Path(folder).parent):
        path = f / QUALITY_FILE
        if path.is_file():
            return _table_at(str(f), path.stat().st_mtime_ns)
    return None


def result_of(cell: Cell) -> QualityResult | None:
    table = table_for(cell.run_dir.parent)
    return table.for_deployment(cell.deployment) if table else None


def _q(field: str, scale: float = 1.0) -> Callable[[Cell], float | None]:
    def get(c: Cell) -> float | None:
        r = result_of(c)
        v = getattr(r, field) if r is not None else None
        return None if v is None else v * scale
    return get


def cell_columns(column_cls) -> list:
    """Columns for the per-cell table (``column_cls`` is report.tables.Column)."""
    return [column_cls("quality_kld", "mean KLD", _q("kld"), "{:.4f}"),
            column_cls("quality_ppl_change_pct", "PPL vs base %", _q("perplexity_change", 100.0), "{:+.2f}"),
            column_cls("quality_top1_pct", "same top token %", _q("top1_agreement", 100.0), "{:.1f}"),
            column_cls("quality_token_match_pct", "greedy match %", _q("token_match", 100.0), "{:.1f}")]


# --------------------------------------------------------------------------- per deployment


@dataclass
class QualityRow:
    deployment: str
    model: str
    quantization: str
    hardware: str
    result: QualityResult | None
    cost: float | None  # $ per 1M tokens at the deployment's cheapest level
    tokens_per_s: float | None
    concurrency: int | None

    @property
    def loss(self) -> tuple[str, float] | None:
        """The quality-loss figure the chart plots: KLD, else 1 - greedy token match, else PPL change."""
        r = self.result
        if r is None:
            return None
        if r.kld is not None:
            return "mean KLD (nats/token)", r.kld
        if r.token_match is not None:
            return "1 − greedy token match", 1.0 - r.token_match
        if r.perplexity_change is not None:
            return "perplexity change vs baseline", r.perplexity_change
        return None


def quality_rows(cells: Sequence[Cell], cost_of: Callable[[Cell], float | None]) -> list[QualityRow]:
    by_dep: dict[str, list[Cell]] = {}
    for c in cells:
        by_dep.setdefault(c.deployment, []).append(c)
    rows = []
    for dep, cs in by_dep.items():
        priced = [(cost_of(c), c) for c in cs if cost_of(c) is not None]
        best = min(priced, key=lambda x: x[0]) if priced else (None, None)
        c0 = cs[0]
        rows.append(QualityRow(dep, c0.model, c0.quantization, c0.hardware, result_of(c0), best[0],
                               best[1].summary.output_throughput_tok_s if best[1] else None,
                               best[1].concurrency if best[1] else None))
    return rows


def front(rows: Sequence[QualityRow]) -> list[QualityRow]:
    """Per model, the deployments no other deployment of that model beats on both cost and quality loss."""
    pts = [r for r in rows if r.cost is not None and r.loss is not None]
    keep = []
    for r in pts:
        rc, rl = r.cost, r.loss[1]
        if not any(o.model == r.model and o.cost <= rc and o.loss[1] <= rl and (o.cost < rc or o.loss[1] < rl)
                   for o in pts if o is not r):
            keep.append(r)
    return sorted(keep, key=lambda r: (r.model, r.cost))


def _pct(v: float | None) -> float | None:
    return None if v is None else v * 100.0


ROW_FIELDS: list[tuple[str, str, Callable[[QualityRow], Any], str | None]] = [
    ("deployment", "deployment", lambda r: r.deployment, None),
    ("model", "model", lambda r: r.model, None),
    ("quantization", "quantization", lambda r: r.quantization, None),
    ("hardware", "hardware", lambda r: r.hardware, None),
    ("method", "method", lambda r: r.result.method if r.result else None, None),
    ("baseline", "baseline", lambda r: r.result.baseline if r.result else None, None),
    ("bits_per_weight", "bits/weight", lambda r: r.result.bits_per_weight if r.result else None, "{:.2f}"),
    ("perplexity", "perplexity", lambda r: r.result.perplexity if r.result else None, "{:.3f}"),
    ("perplexity_change_pct", "PPL vs base %", lambda r: _pct(r.result.perplexity_change) if r.result else None,
     "{:+.2f}"),
    ("kld", "mean KLD", lambda r: r.result.kld if r.result else None, "{:.4f}"),
    ("top1_pct", "same top token %", lambda r: _pct(r.result.top1_agreement) if r.result else None, "{:.1f}"),
    ("token_match_pct", "greedy token match %", lambda r: _pct(r.result.token_match) if r.result else None, "{:.1f}"),
    ("exact_match_pct", "greedy exact match %", lambda r: _pct(r.result.exact_match) if r.result else None, "{:.1f}"),
    ("tokens_per_s", "tok/s (cheapest level)", lambda r: r.tokens_per_s, "{:.1f}"),
    ("cost_per_1m_tokens", "$ per 1M tok (cheapest level)", lambda r: r.cost, "{:.3f}"),
]


def row_columns(column_cls, rows: Sequence[QualityRow] = ()) -> list:
    """Columns for the per-deployment table; with ``rows``, figures no row has are left out."""
    keep = [(k, t, g, f) for k, t, g, f in ROW_FIELDS if f is None or not rows or any(g(r) is not None for r in rows)]
    return [column_cls(k, t, g, f) for k, t, g, f in keep]


def status(cells: Sequence[Cell], table: QualityTable | None) -> list[str]:
    """Lines that say what quality data there is (and why there is none)."""
    if table is not None:
        lines = [f"Quality method: {table.method}" + (" (greedy-output agreement: a weaker measure than KL "
                 "divergence; it sees only the most likely continuation)" if table.method == "agreement" else "")]
        return lines + list(table.notes)
    if cells and all(c.imported for c in cells):
        return [NO_DATA_IMPORTED]
    return [NO_DATA]


def write_csv(rows: Sequence[QualityRow], path: Path) -> Path:

    with storage.replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow([k for k, *_ in ROW_FIELDS])
        for r in rows:
            w.writerow(["" if (v := get(r)) is None else safe_text(v) for _, _, get, _ in ROW_FIELDS])
    return path


# --------------------------------------------------------------------------- formats


def _rows(ctx) -> tuple[list[QualityRow], QualityTable | None]:

    return quality_rows(ctx.store.cells, cost_reader(ctx.store, ctx.basis)), table_for(ctx.store.root)


def markdown_lines(ctx) -> list[str]:

    rows, table = _rows(ctx)
    lines = ["## Quality", ""] + [md_text(x) for x in status(ctx.store.cells, table)] + [""]
    if table is None:
        return lines
    lines += md_table(row_columns(Column, rows), rows) + [""]
    fr = front(rows)
    if fr:
        lines += ["Cost / quality Pareto front (per model: no other deployment is both cheaper and closer to "
                  "the baseline):", ""]
        lines += [f"- {md_text(r.model)}: {md_text(r.deployment)} — ${r.cost:.3f} per 1M tokens, "
                  f"{md_text(r.loss[0])} {r.loss[1]:.4f}" for r in fr]
        lines.append("")
    return lines


def html_section(ctx) -> str:

    rows, table = _rows(ctx)
    notes = "".join(f'<p class="muted">{h(x)}</p>' for x in status(ctx.store.cells, table))
    body = html_table(row_columns(Column, rows), rows, "quality-table") if table is not None else ""
    return f'<section id="quality"><h2>Quality</h2>{notes}{body}</section>'


def chart(ctx):
    """Cost per 1M tokens against quality loss, each model's front joined by a line (None without data)."""
    import plotly.graph_objects as go

    from .charts import Chart, _color, _layout, esc  # charts loads plotly: only when a chart is drawn

    rows, _ = _rows(ctx)
    pts = [r for r in rows if r.cost is not None and r.loss is not None]
    if not pts:
        return None
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[r.cost for r in pts], y=[r.loss[1] for r in pts], mode="markers",
                             name="deployments", marker=dict(color="#b0b0b0", size=9),
                             text=[f"{esc(r.deployment)} ({esc(r.quantization)})" for r in pts],
                             hovertemplate="%{text}<br>$%{x:.3f}/1M tok, loss %{y:.4f}<extra></extra>"))
    groups: dict[str, list[QualityRow]] = {}
    for r in front(rows):
        groups.setdefault(r.model, []).append(r)
    for i, (model, rs) in enumerate(groups.items()):
        fig.add_trace(go.Scatter(x=[r.cost for r in rs], y=[r.loss[1] for r in rs], mode="lines+markers",
                                 name=f"front: {esc(model)}", line=dict(color=_color(i), shape="hv"),
                                 text=[f"{esc(r.deployment)} ({esc(r.quantization)})" for r in rs],
                                 hovertemplate="%{text}<br>$%{x:.3f}/1M tok, loss %{y:.4f}<extra>%{fullData.name}"
                                               "</extra>"))
    ylabel = " / ".join(dict.fromkeys(r.loss[0] for r in pts))
    _layout(fig, "$ per 1M output tokens (each deployment's cheapest load level)", ylabel)
    return Chart("chart-quality", "Cost vs quality",
                 "Each deployment's cheapest $ per 1M tokens against its quality loss (lower is better on both); "
                 "per model, a line joins the deployments no other deployment of that model beats on both.", fig)


def xlsx_sheet(ctx) -> tuple[list[str], list[list[Any]]]:
    rows, table = _rows(ctx)
    if table is None:
        return ["note"], [[x] for x in status(ctx.store.cells, table)]
    return [t for _, t, _, _ in ROW_FIELDS], [[get(r) for _, _, get, _ in ROW_FIELDS] for r in rows]


def csv_files(ctx, out: Path) -> list[Path]:
    rows, table = _rows(ctx)
    return [write_csv(rows, out / "quality.csv")] if table is not None else []


def json_block(ctx) -> dict[str, Any]:
    rows, table = _rows(ctx)
    return {"status": status(ctx.store.cells, table), "table": table.model_dump(mode="json") if table else None,
            "front": [r.deployment for r in front(rows)]}
