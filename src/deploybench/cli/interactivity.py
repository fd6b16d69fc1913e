"""``pareto --front interactivity`` and ``recommend --scenario cost --at-interactivity N``: tables and lines.

The figures come from :func:`deploybench.api.interactivity` / :func:`deploybench.api.recommend_at_interactivity`
(docs/metrics.md, "The interactivity front"); this module only prints them.
"""

from __future__ import annotations

from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from ..api import InteractivityFront, SpeedPick

FRONTS = ("cost-latency", "interactivity")


def _f(v: float | None, fmt: str = "{:.4g}") -> str:
    return "—" if v is None else fmt.format(v)


def _v(v: float | None, lo: float | None = None, hi: float | None = None) -> str:
    """A figure with its 95 % interval where it has one."""
    return _f(v) + ("" if v is None or lo is None or hi is None else f" [{lo:.4g}–{hi:.4g}]")


def curves_table(view: InteractivityFront, group: str) -> Table:
    on = {(f.run_id, f.axis) for f in view.fronts}
    t = Table(title=f"{group}: tok/s per user (1000 / TPOT p50) vs output tok/s per device and $ per 1M tokens "
                    "[95 % intervals]", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for c in ("deployment", "devices", "level", "tok/s/user", "tok/s/device", "$/1M", "front"):
        t.add_column(c, justify="left" if c in ("deployment", "devices", "level", "front") else "right")
    for c in (c for c in view.curves if c.group == group):
        for p in c.points:
            front = ",".join(n for n, axis in (("tput", "tok_s_device"), ("cost", "cost_per_1m")) if (p.run_id, axis) in on)
            t.add_row(c.deployment, c.devices.text, p.level, _v(p.tok_s_user, p.tok_s_user_lo, p.tok_s_user_hi),
                      _v(p.tok_s_device, p.tok_s_device_lo, p.tok_s_device_hi),
                      _v(p.cost_per_1m, p.cost_per_1m_lo, p.cost_per_1m_hi), front)
    return t


def print_front(out: Console, view: InteractivityFront) -> None:
    say = (lambda text: out.print(text, highlight=False, markup=False))
    if view.why_no_front:
        cells = sum(len(c.left_out) for c in view.curves)
        say(f"no interactivity front: none of {len(view.curves)} deployments ({cells} cells) has a curve: "
            f"{view.why_no_front}")
        return
    for group in dict.fromkeys(c.group for c in view.curves if c.points):
        out.print(curves_table(view, group))
    for c in view.curves:
        if c.points:
            say(f"{c.deployment}: devices {c.devices.text} ({c.devices.source})")
            for line in c.left_out:
                say(f"{c.deployment}: left off its curve: {line}")
        else:
            say(f"{c.deployment}: no curve ({len(c.left_out)} cells): {c.why_no_curve}")
    say("front: tput = no point of the same model (and device unit) is both faster per user and more tok/s "
        "per device; cost = none is both faster per user and cheaper per 1M tokens")
    if view.target is not None:
        say(f"read-off at {view.target:g} tok/s per user (PCHIP between measured levels, never extrapolated):")
        for r in view.read_offs:
            say(f"  {r.group}: {r.line}")


def speed_picks_table(picks: list[SpeedPick], title: str) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for c in ("model", "pick", "devices", "tok/s/device", "$/1M", "how", "margin"):
        t.add_column(c, justify="left" if c in ("model", "pick", "devices", "how") else "right")
    for sp in picks:
        r = sp.pick
        if r is None:
            t.add_row(sp.group, "none (see below)", *["—"] * 5)
            continue
        margin = "—" if sp.margin is None else f"{sp.margin:.1%}" + (" tie" if sp.tie else "")
        how = ("measured " if r.status == "measured" else "interpolated ") + "–".join(r.between)
        t.add_row(sp.group, r.deployment, r.devices.text, _v(r.tok_s_device, r.tok_s_device_lo, r.tok_s_device_hi),
                  _v(r.cost_per_1m, r.cost_per_1m_lo, r.cost_per_1m_hi), how, margin)
    return t


def print_speed_picks(out: Console, picks: list[SpeedPick], path: Path) -> None:
    out.print(speed_picks_table(picks, f"deploybench recommend — cost at {picks[0].target:g} tok/s per user — {path}"
                                if picks else "no models"))
    for rule in dict.fromkeys(sp.rule for sp in picks):
        out.print(f"rule: {rule}", highlight=False, markup=False)
    for sp in picks:
        if sp.pick is None:
            out.print(f"{sp.group}: {sp.note}", highlight=False, markup=False)
        else:
            tie = f" — cannot be told apart ({sp.tie_rule}): {', '.join(sp.tied_with)}" if sp.tie else ""
            out.print(f"{sp.group}: {sp.pick.line}{tie}", highlight=False, markup=False)
        for line in sp.refused:
            out.print(f"{sp.group}: left out: {line}", highlight=False, markup=False)
