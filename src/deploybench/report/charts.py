"""Plotly figures for the HTML report. Every text that came from a user or a model is escaped:
plotly draws a subset of HTML in labels, so a name is shown as text, never as markup."""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .. import metrics
from .data import Cell
from .picks import FrontPoint, Recommendation

HEIGHT = 460
LATENCY_CHOICES = [  # (label, summary attribute, statistic); the first is shown first
    ("median ms/token", "ms_per_token", "p50"),
    ("E2E p50 (ms)", "e2e_ms", "p50"),
    ("TTFT p90 (ms)", "ttft_ms", "p90"),
    ("TPOT p50 (ms)", "tpot_ms", "p50"),
]
PICK_SYMBOLS = {"cost": "star", "latency": "diamond", "throughput": "triangle-up", "slo": "x"}


@dataclass
class Chart:
    id: str
    title: str
    explain: str
    figure: go.Figure


def esc(text: object) -> str:
    return html.escape(str(text), quote=False)


def by_deployment(cells: Sequence[Cell]) -> dict[str, list[Cell]]:
    out: dict[str, list[Cell]] = {}
    for c in cells:
        out.setdefault(c.deployment, []).append(c)
    return {k: sorted(v, key=lambda c: c.concurrency) for k, v in out.items()}


def _stat(c: Cell, attr: str, stat: str) -> float | None:
    return getattr(getattr(c.summary, attr), stat)


def _layout(fig: go.Figure, xtitle: str, ytitle: str, **kw) -> go.Figure:
    fig.update_layout(height=HEIGHT, margin=dict(l=60, r=20, t=50, b=60), template="plotly_white",
                      legend=dict(orientation="h", y=-0.2), **kw)
    fig.update_xaxes(title_text=xtitle)
    fig.update_yaxes(title_text=ytitle)
    return fig


def latency_throughput(cells: Sequence[Cell]) -> Chart | None:
    """One line per deployment through its load levels: output tokens/s against a latency."""
    groups = by_deployment(cells)
    fig = go.Figure()
    _, attr0, stat0 = LATENCY_CHOICES[0]
    for dep, cs in groups.items():
        fig.add_trace(go.Scatter(
            x=[c.summary.output_throughput_tok_s for c in cs], y=[_stat(c, attr0, stat0) for c in cs],
            mode="lines+markers+text", name=esc(dep), text=[f"c={c.concurrency}" for c in cs],
            textposition="top center", hovertemplate="%{x:.1f} tok/s, %{y:.2f}<br>%{text}<extra>%{fullData.name}</extra>"))
    buttons = [dict(label=label, method="update",
                    args=[{"y": [[_stat(c, attr, stat) for c in cs] for cs in groups.values()]},
                          {"yaxis.title.text": label}])
               for label, attr, stat in LATENCY_CHOICES]
    _layout(fig, "output tokens/s", LATENCY_CHOICES[0][0],
            updatemenus=[dict(buttons=buttons, direction="down", x=0.0, xanchor="left", y=1.02, yanchor="bottom")])
    return Chart("chart-latency-throughput", "Latency vs throughput",
                 "Each line is one deployment, each point a load level (c = concurrent requests). Down and to the "
                 "right is better. The menu switches the latency measure.", fig)


def cost_per_deployment(cells: Sequence[Cell]) -> Chart | None:
    priced = [c for c in cells if c.summary.cost_per_1m_tokens is not None]
    if not priced:
        return None
    fig = go.Figure()
    levels = sorted({c.concurrency for c in priced})
    for lvl in levels:
        cs = [c for c in priced if c.concurrency == lvl]
        fig.add_trace(go.Bar(x=[esc(c.deployment) for c in cs], y=[c.summary.cost_per_1m_tokens for c in cs],
                             name=f"c={lvl}", hovertemplate="%{x}<br>$%{y:.3f} per 1M tokens<extra>%{fullData.name}</extra>"))
    _layout(fig, "deployment", "$ per 1M output tokens", barmode="group")
    return Chart("chart-cost", "Cost per 1M tokens",
                 "$/hour × time to generate 1M output tokens at the measured throughput, per deployment and load "
                 "level. Lower is better.", fig)


def distribution(cells: Sequence[Cell], metric: str) -> Chart | None:
    """Box per cell from per-request values: box p25–p75, line median, whiskers p1–p99."""
    fn = {"ttft": metrics.ttft_ms, "tpot": metrics.tpot_ms}[metric]
    fig = go.Figure()
    for dep, cs in by_deployment([c for c in cells if c.has_records]).items():
        qs, xs = [], []
        for c in cs:
            vals = np.array([v for v in (fn(r) for r in c.records) if v is not None], dtype=float)
            if vals.size:
                qs.append(np.percentile(vals, [1, 25, 50, 75, 99]).tolist() + [float(vals.mean())])
                xs.append(f"c={c.concurrency}")
        if not qs:
            continue
        q = np.array(qs)
        fig.add_trace(go.Box(x=xs, lowerfence=q[:, 0], q1=q[:, 1], median=q[:, 2], q3=q[:, 3], upperfence=q[:, 4],
                             mean=q[:, 5], boxmean=True, name=esc(dep), boxpoints=False))
    if not fig.data:
        return None
    name = {"ttft": "TTFT", "tpot": "TPOT"}[metric]
    _layout(fig, "load level", f"{name} (ms)", boxmode="group")
    return Chart(f"chart-{metric}-dist", f"{name} distribution",
                 f"Per-request {name} by deployment and load level: box p25–p75, line median, dashed mean, "
                 "whiskers p1–p99. Only cells with per-request records appear.", fig)


def scaling(cells: Sequence[Cell]) -> Chart | None:
    fig = make_subplots(rows=1, cols=2, subplot_titles=("output tokens/s", "median ms/token"))
    for i, (dep, cs) in enumerate(by_deployment(cells).items()):
        x = [c.concurrency for c in cs]
        color = _color(i)
        fig.add_trace(go.Scatter(x=x, y=[c.summary.output_throughput_tok_s for c in cs], mode="lines+markers",
                                 name=esc(dep), legendgroup=str(i), line=dict(color=color)), row=1, col=1)
        fig.add_trace(go.Scatter(x=x, y=[c.summary.ms_per_token.p50 for c in cs], mode="lines+markers",
                                 name=esc(dep), legendgroup=str(i), showlegend=False, line=dict(color=color)),
                      row=1, col=2)
    _layout(fig, "concurrent requests", "")
    fig.update_yaxes(title_text="tokens/s", row=1, col=1)
    fig.update_yaxes(title_text="ms/token", row=1, col=2)
    return Chart("chart-scaling", "Concurrency scaling",
                 "How throughput and per-token latency change as concurrent requests grow, per deployment.", fig)


def pareto(cells: Sequence[Cell], front: Sequence[FrontPoint], recs: Sequence[Recommendation],
           cost_of: Callable[[Cell], float | None]) -> Chart | None:
    """All priced cells (grey), each model's front (a line), and the picks (marked)."""
    pts = [(c, cost_of(c), c.summary.ms_per_token.p50) for c in cells]
    pts = [(c, x, y) for c, x, y in pts if x is not None and y is not None]
    if not pts:
        return None
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=[x for _, x, _ in pts], y=[y for _, _, y in pts], mode="markers", name="all cells",
        marker=dict(color="#b0b0b0", size=8), text=[f"{esc(c.deployment)} @ c={c.concurrency}" for c, _, _ in pts],
        hovertemplate="%{text}<br>$%{x:.3f}/1M tok, %{y:.2f} ms/token<extra></extra>"))
    groups: dict[str, list[FrontPoint]] = {}
    for p in front:
        groups.setdefault(p.group, []).append(p)
    for i, (group, ps) in enumerate(groups.items()):
        ps = sorted(ps, key=lambda p: p.cost)
        fig.add_trace(go.Scatter(
            x=[p.cost for p in ps], y=[p.latency for p in ps], mode="lines+markers", name=f"front: {esc(group)}",
            line=dict(color=_color(i), shape="hv"), text=[f"{esc(p.cell.deployment)} @ c={p.cell.concurrency}" for p in ps],
            hovertemplate="%{text}<br>$%{x:.3f}/1M tok, %{y:.2f} ms/token<extra>%{fullData.name}</extra>"))
    for rec in recs:
        rows = [r for r in rec.rows if r.cost_per_1m is not None and r.ms_per_token is not None]
        if rows:
            fig.add_trace(go.Scatter(
                x=[r.cost_per_1m for r in rows], y=[r.ms_per_token for r in rows],
                mode="markers", name=f"pick: {esc(rec.title.lower())}",
                marker=dict(symbol=PICK_SYMBOLS.get(rec.scenario, "x"), size=16, line=dict(width=1, color="#000")),
                text=[f"{esc(r.group)}: {esc(r.cell.deployment)} @ c={r.cell.concurrency}" for r in rows],
                hovertemplate="%{text}<br>$%{x:.3f}/1M tok, %{y:.2f} ms/token<extra>%{fullData.name}</extra>"))
    _layout(fig, "$ per 1M output tokens", "median ms/token")
    return Chart("chart-pareto", "Cost / latency Pareto front",
                 "Every priced cell (grey); per model, a line joins the cells no other cell of that model beats on "
                 "both cost and median ms/token. Marked: the recommended cells (star cost, diamond latency, "
                 "triangle throughput, cross SLO).", fig)


def rate_response(cells: Sequence[Cell]) -> Chart | None:
    """Open-loop cells: achieved vs offered rate, and TTFT p50 / p99, per deployment (x = offered req/s)."""
    open_cells = [c for c in cells if c.summary.level_kind != "closed" and c.summary.offered_rps]
    if not open_cells:
        return None
    fig = make_subplots(rows=1, cols=2, subplot_titles=("achieved vs offered req/s", "TTFT p50 / p99 (ms)"))
    groups: dict[str, list[Cell]] = {}
    for c in open_cells:
        groups.setdefault(c.deployment, []).append(c)
    for i, (dep, cs) in enumerate(groups.items()):
        cs = sorted(cs, key=lambda c: c.summary.offered_rps)
        x, color = [c.summary.offered_rps for c in cs], _color(i)
        fig.add_trace(go.Scatter(x=x, y=[c.summary.request_throughput_rps for c in cs], mode="lines+markers",
                                 name=esc(dep), legendgroup=str(i), line=dict(color=color)), row=1, col=1)
        for stat, dash in (("p50", "solid"), ("p99", "dot")):
            fig.add_trace(go.Scatter(x=x, y=[c.summary.ttft_ms.model_dump()[stat] for c in cs], mode="lines+markers",
                                     name=f"{esc(dep)} TTFT {stat}", legendgroup=str(i), showlegend=stat == "p99",
                                     line=dict(color=color, dash=dash)), row=1, col=2)
    top = max(c.summary.offered_rps for c in open_cells)
    fig.add_trace(go.Scatter(x=[0, top], y=[0, top], mode="lines", name="achieved = offered",
                             line=dict(color="#b0b0b0", dash="dash")), row=1, col=1)
    _layout(fig, "offered requests/s", "")
    return Chart("chart-rates", "Open-loop rates",
                 "Per open-loop level: the rate the server achieved against the rate offered (on the diagonal = "
                 "keeping up), and TTFT p50 (solid) / p99 (dotted). Where TTFT turns up sharply the server saturates.",
                 fig)


def _color(i: int) -> str:
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
               "#bcbd22", "#17becf"]
    return palette[i % len(palette)]


def all_charts(cells: Sequence[Cell], front: Sequence[FrontPoint], recs: Sequence[Recommendation],
               cost_of: Callable[[Cell], float | None]) -> tuple[list[Chart], list[str]]:
    """The charts that have data, and a note for each one left out."""
    closed = [c for c in cells if c.summary.level_kind == "closed"]
    makers = [("Latency vs throughput", lambda: latency_throughput(cells)),
              ("Cost per 1M tokens", lambda: cost_per_deployment(cells)),
              ("TTFT distribution", lambda: distribution(cells, "ttft")),
              ("TPOT distribution", lambda: distribution(cells, "tpot")),
              ("Concurrency scaling", lambda: scaling(closed)),
              ("Open-loop rates", lambda: rate_response(cells)),
              ("Cost / latency Pareto front", lambda: pareto(cells, front, recs, cost_of))]
    reasons = {"Cost per 1M tokens": "no cell has a price per hour",
               "TTFT distribution": "no per-request records (e.g. imported data holds summary figures only)",
               "TPOT distribution": "no per-request records (e.g. imported data holds summary figures only)",
               "Cost / latency Pareto front": "no cell has both a price and a median ms/token",
               "Open-loop rates": "no open-loop (rate or trace) levels in this study"}
    charts, notes = [], []
    for title, make in makers:
        chart = make()
        if chart is None:
            notes.append(f"{title}: not drawn — {reasons.get(title, 'no data')}")
        else:
            charts.append(chart)
    return charts, notes
