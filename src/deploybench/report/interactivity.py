"""The HTML report's interactivity section: per-user speed against output tokens/s per device and $ per 1M
tokens, one curve per deployment, the fronts, and a read-off table (docs/metrics.md, "The interactivity front").

The figures come from :mod:`deploybench.recommend.interactivity`; this module only draws them. The read-off
targets are chosen from the study: the 25th, 50th and 75th percentiles of every measured point's speed per
user, rounded to two significant digits (``deploybench pareto DIR --front interactivity --at-interactivity N``
reads off any other speed).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
import plotly.io as pio

from ..catalog import load_catalog
from ..recommend import Front, ReadOff, devices_by_run, interactivity_front
from ..recommend.interactivity import Curve, read_off
from .charts import HEIGHT, esc
from .render.columns import Column
from .render.html import h, html_table

X_TITLE = "output tokens/s per user (1000 / TPOT p50)"
READ_COLUMNS = [
    Column("model", "model", lambda r: r.group),
    Column("deployment", "deployment", lambda r: r.deployment),
    Column("devices", "devices", lambda r: r.devices.text),
    Column("target", "tok/s per user", lambda r: r.target, "{:g}"),
    Column("status", "read-off", lambda r: r.status if r.status != "measured" else "measured (a level)"),
    Column("tput", "tok/s per device", lambda r: r.tok_s_device, "{:.4g}"),
    Column("tput_iv", "95 % interval", lambda r: _iv(r.tok_s_device_lo, r.tok_s_device_hi)),
    Column("cost", "$ per 1M tokens", lambda r: r.cost_per_1m, "{:.4g}"),
    Column("cost_iv", "95 % interval", lambda r: _iv(r.cost_per_1m_lo, r.cost_per_1m_hi)),
    Column("how", "between levels / why not", lambda r: " – ".join(r.between) if r.between else r.note),
]
INTRO = ("Each line is one deployment over its load levels: how fast each user is served (x) against what the "
         "deployment delivers per device and what 1M output tokens cost (y). A device is a GPU; for a CPU "
         "deployment it is a vCPU (the unit is in the legend). The dashed line is the front: the measured points no "
         "other point of the same model beats on both axes. Open circles are the read-offs in the table: "
         "interpolated monotonically (PCHIP) between the two measured levels around the target, never outside "
         "them. Intervals are 95 %; imported summaries without one show none.")


def _iv(lo: float | None, hi: float | None) -> str:
    return "—" if lo is None or hi is None else f"{lo:.4g}–{hi:.4g}"


def targets(view: Front) -> list[float]:
    """Up to three read-off speeds: the quartiles of the measured speeds per user, two significant digits."""
    xs = [p.tok_s_user for c in view.curves for p in c.points]
    if not xs:
        return []
    qs = np.percentile(xs, [25, 50, 75])
    return sorted({float(f"{q:.2g}") for q in qs})


def front_of(ctx) -> Front:
    cells = ctx.store.cells
    return interactivity_front([c.summary for c in cells], devices_by_run(cells, load_catalog()))


def _name(c: Curve, many_models: bool) -> str:
    dev = f" ({c.devices.text})" if c.devices.count else " (devices unknown)"
    return esc((f"{c.group} · " if many_models else "") + c.deployment + dev)


def _y_title(cs: Sequence[Curve]) -> str:
    units = sorted({c.devices.unit for c in cs if c.devices.count and c.points})
    if len(units) == 1:
        return f"output tokens/s per {units[0]}"
    return "output tokens/s per device (GPU, or vCPU for CPU deployments: see the legend)"


def _figure(view: Front, offs: list[ReadOff], axis: str) -> go.Figure:
    fig = go.Figure()
    many = len({c.group for c in view.curves}) > 1
    attr = "tok_s_device" if axis == "tok_s_device" else "cost_per_1m"
    for c in view.curves:
        pts = [p for p in c.points if getattr(p, attr) is not None]
        if not pts:
            continue
        lo = [getattr(p, f"{attr}_lo") for p in pts]
        hi = [getattr(p, f"{attr}_hi") for p in pts]
        err = None
        if all(v is not None for v in lo + hi):
            err = dict(type="data", symmetric=False, array=[h - getattr(p, attr) for p, h in zip(pts, hi)],
                       arrayminus=[getattr(p, attr) - v for p, v in zip(pts, lo)])
        fig.add_trace(go.Scatter(x=[p.tok_s_user for p in pts], y=[getattr(p, attr) for p in pts], mode="lines+markers",
                                 name=_name(c, many), error_y=err, text=[esc(p.level) for p in pts],
                                 hovertemplate="%{text}: %{x:.4g} tok/s/user, %{y:.4g}<extra></extra>",
                                 meta={"kind": "curve", "deployment": c.deployment}))
    for group in dict.fromkeys(c.group for c in view.curves):
        for unit in dict.fromkeys(f.unit for f in view.fronts if f.group == group and f.axis == axis):
            fp = [f for f in view.fronts if f.group == group and f.axis == axis and f.unit == unit]
            fig.add_trace(go.Scatter(x=[f.tok_s_user for f in fp], y=[f.value for f in fp], mode="lines",
                                     line=dict(dash="dash", color="black"), meta={"kind": "front", "group": group},
                                     name=esc(f"front{' · ' + group if many else ''}{' (' + unit + ')' if unit else ''}")))
    done = [r for r in offs if getattr(r, attr) is not None]
    if done:
        fig.add_trace(go.Scatter(x=[r.target for r in done], y=[getattr(r, attr) for r in done], mode="markers",
                                 marker=dict(symbol="circle-open", size=11, color="black"), name="read-off",
                                 text=[esc(f"{r.deployment}: {r.status}") for r in done], meta={"kind": "read-off"},
                                 hovertemplate="%{text}: %{y:.4g} at %{x:g} tok/s/user<extra></extra>"))
    y = _y_title(view.curves) if axis == "tok_s_device" else "$ per 1M output tokens"
    fig.update_layout(height=HEIGHT, margin=dict(l=60, r=20, t=30, b=60), template="plotly_white",
                      legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title_text=X_TITLE)
    fig.update_yaxes(title_text=y)
    return fig


def html_section(ctx) -> tuple[str, list[str]]:
    """The section's HTML and its charts as ``"id": figure-json`` entries of the page's chart map."""

    view = front_of(ctx)
    head = '<section id="interactivity"><h2>Interactivity: speed per user vs throughput per device and cost</h2>'
    if view.why_no_front:
        return (f'{head}<p class="note">No interactivity front: none of the {len(view.curves)} deployments has a '
                f"curve: {h(view.why_no_front)}</p></section>"), []
    offs = [read_off(c, t) for t in targets(view) for c in view.curves]
    parts, figs = [head, f'<p class="muted">{h(INTRO)}</p>'], []
    for cid, axis, title in (("chart-interactivity-tput", "tok_s_device", "Output tokens/s per device"),
                             ("chart-interactivity-cost", "cost_per_1m", "$ per 1M output tokens")):
        fig = _figure(view, offs, axis)
        if not fig.data:
            why = "no device count" if axis == "tok_s_device" else "no price per hour"
            parts.append(f'<p class="note">{h(title)}: no deployment has this figure ({why}).</p>')
            continue
        parts.append(f'<figure id="fig-{cid}"><h3>{h(title)} against speed per user</h3>'
                     f'<div id="{cid}" class="chart plotly-graph-div"></div></figure>')
        figs.append(f"{json.dumps(cid)}: {pio.to_json(fig, validate=False)}")
    parts.append("<h3>Read-off at the study's typical speeds per user</h3>")
    parts.append(html_table(READ_COLUMNS, offs, "interactivity-table",
                            lambda r: f' data-deployment="{h(r.deployment)}" data-status="{h(r.status)}"'))
    notes = [f"{c.deployment}: no curve: {c.why_no_curve}" for c in view.curves if not c.points]
    notes += [f"{c.deployment}: devices {c.devices.text} ({c.devices.source})" for c in view.curves if c.points]
    parts.append("<ul class=\"muted\">" + "".join(f"<li>{h(n)}</li>" for n in notes) + "</ul></section>")
    return "\n".join(parts), figs
