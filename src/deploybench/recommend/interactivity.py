"""The interactivity front: per-user speed against output throughput per device and cost per 1M tokens.

Each deployment is one curve over its load levels: x = tokens/s per user = 1000 / TPOT p50, y = output
tokens/s / devices (:mod:`.devices`) and $ per 1M output tokens. The fronts are the measured points no
other point beats on both axes, per model (throughput per device: per device unit as well). A read-off at
a target speed interpolates each curve monotonically (PCHIP) between its measured levels and never
outside them. docs/metrics.md ("The interactivity front") says exactly how, intervals included.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field, computed_field

from ..metrics import cost_per_1m
from ..metrics.rounds import combine_all
from ..schemas import ConfigError, RunSummary
from . import figures as fig
from .devices import Devices
from .picks import skip_reason

SEED_NO_TPOT = ("no TPOT: the 2023 cells carry the server's ms/token only (TGI time_per_token = inference time "
                "/ generated tokens, prefill included, no queue or network) and E2E; that is not the decode time "
                "per token, so there is no tokens/s per user to place them at")


class Point(BaseModel):
    """One measured load level of a deployment, on both axes, each figure with its 95 % interval (None: none)."""

    run_id: str
    level: str
    concurrency: int
    tok_s_user: float
    tok_s_user_lo: float | None = None
    tok_s_user_hi: float | None = None
    tok_s: float = Field(description="the deployment's output tokens/s")
    tok_s_lo: float | None = None
    tok_s_hi: float | None = None
    tok_s_device: float | None = None
    tok_s_device_lo: float | None = None
    tok_s_device_hi: float | None = None
    cost_per_1m: float | None = None
    cost_per_1m_lo: float | None = None
    cost_per_1m_hi: float | None = None


class Curve(BaseModel):
    """One deployment over its load levels, slowest per user first."""

    group: str
    deployment: str
    hardware: str | None = None
    devices: Devices = Field(default_factory=Devices)
    price_per_hour: float | None = None
    points: list[Point] = Field(default_factory=list)
    left_out: list[str] = Field(default_factory=list, description="its cells not on the curve, each with why")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def why_no_curve(self) -> str | None:
        """Why it has no curve: its cells' one reason (or all of them); None when it has one."""
        if self.points:
            return None
        reasons = list(dict.fromkeys(line.split(": ", 1)[1] for line in self.left_out))
        return "; ".join(reasons) or "no cells"


class ReadOff(BaseModel):
    """A deployment's throughput per device and cost at one target speed per user."""

    group: str
    deployment: str
    target: float
    status: str = Field(description="measured (a level sits at the target) | interpolated | outside | no-curve")
    devices: Devices = Field(default_factory=Devices)
    tok_s_device: float | None = None
    tok_s_device_lo: float | None = None
    tok_s_device_hi: float | None = None
    cost_per_1m: float | None = None
    cost_per_1m_lo: float | None = None
    cost_per_1m_hi: float | None = None
    between: list[str] = Field(default_factory=list, description="the measured levels it lies between")
    measured_from: float | None = None
    measured_to: float | None = None
    note: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def line(self) -> str:
        """One line: the read-off with its interval, or why there is none."""
        head = f"{self.deployment} @ {self.target:g} tok/s/user"
        if self.status not in ("measured", "interpolated"):
            return f"{head}: {self.note}"
        where = ("measured at " if self.status == "measured" else "interpolated between ") + " and ".join(self.between)
        tput = (f"{_num(self.tok_s_device)} tok/s/{self.devices.unit} {_iv(self.tok_s_device_lo, self.tok_s_device_hi)}"
                if self.tok_s_device is not None else "tok/s per device: unknown (no device count)")
        cost = (f"${_num(self.cost_per_1m)}/1M {_iv(self.cost_per_1m_lo, self.cost_per_1m_hi)}"
                if self.cost_per_1m is not None else "$/1M: no price")
        return f"{head}: {tput}; {cost} ({where})"


class FrontPoint(BaseModel):
    """A measured point on a front."""

    group: str
    axis: str = Field(description="tok_s_device (per `unit`) | cost_per_1m")
    unit: str | None = None
    deployment: str
    run_id: str
    level: str
    tok_s_user: float
    value: float


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"


def _iv(lo: float | None, hi: float | None) -> str:
    return f"[95%: {_num(lo)}–{_num(hi)}]" if lo is not None and hi is not None else "[no interval]"


# --------------------------------------------------------------------------- curves


def _bounds(s: RunSummary, key: str) -> tuple[float | None, float | None]:
    iv = s.intervals.get(key)
    return (iv.lo, iv.hi) if iv is not None else (None, None)


def _why_no_point(s: RunSummary) -> str:
    if s.labels.get("source") == "import-seed" or s.server_ms_per_token.p50 is not None and s.tpot_ms.p50 is None:
        return SEED_NO_TPOT
    if "tpot_ms" in s.missing:
        return f"no TPOT p50 ({s.labels.get('tool') or 'the source'} does not give it)"
    return "no TPOT p50 (no request streamed two or more tokens)"


def _point(s: RunSummary, dev: Devices) -> Point | str:
    """The cell's point, or why it has none."""
    why = skip_reason(s)
    if why:
        return why
    tpot = s.tpot_ms.p50
    if tpot is None or tpot <= 0:
        return _why_no_point(s)
    tput = fig.throughput(s)
    if tput is None or tput <= 0:
        return fig.why_missing(s, "output_throughput_tok_s")
    t_lo, t_hi = _bounds(s, "tpot_ms.p50")
    y_lo, y_hi = _bounds(s, "output_throughput_tok_s")
    n = dev.count
    per = (lambda v: None if v is None or not n else v / n)
    cost = (lambda v: None if v is None or v <= 0 else cost_per_1m(s.price_per_hour, v))
    return Point(run_id=s.run_id, level=s.level or f"c{s.concurrency}", concurrency=s.concurrency,
                 tok_s_user=1000.0 / tpot, tok_s_user_lo=1000.0 / t_hi if t_hi else None,
                 tok_s_user_hi=1000.0 / t_lo if t_lo and t_lo > 0 else None, tok_s=tput, tok_s_lo=y_lo, tok_s_hi=y_hi,
                 tok_s_device=per(tput), tok_s_device_lo=per(y_lo), tok_s_device_hi=per(y_hi),
                 cost_per_1m=cost(tput), cost_per_1m_lo=cost(y_hi), cost_per_1m_hi=cost(y_lo))


def curves(summaries: Sequence[RunSummary], devices: Mapping[str, Devices]) -> list[Curve]:
    """One curve per deployment (``devices``: per run_id, from :func:`.devices.devices_of`), by model then name.

    A cell without TPOT or throughput, flagged ``client-lag``/``contended`` or with more than 1 % errors is
    left off its curve and listed in ``left_out`` with why. Two levels at the same speed keep the first."""
    out: dict[tuple[str, str], Curve] = {}
    for s in combine_all(summaries):
        dev = devices.get(s.run_id) or Devices()
        c = out.setdefault((fig.group_of(s), s.deployment), Curve(
            group=fig.group_of(s), deployment=s.deployment, hardware=s.labels.get("hardware"), devices=dev,
            price_per_hour=s.price_per_hour))
        p = _point(s, dev)
        if isinstance(p, str):
            c.left_out.append(f"{s.run_id}: {p}")
        elif any(q.tok_s_user == p.tok_s_user for q in c.points):
            c.left_out.append(f"{s.run_id}: the same tokens/s per user as another level of this deployment")
        else:
            c.points.append(p)
    for c in out.values():
        c.points.sort(key=lambda p: p.tok_s_user)
    return [out[k] for k in sorted(out, key=lambda k: (fig.group_order(k[0]), k[1]))]


# --------------------------------------------------------------------------- fronts


def _front(points: list[tuple[float, float, object]], higher_better: bool) -> list[tuple[float, float, object]]:
    sign = 1 if higher_better else -1

    def beats(a, b) -> bool:
        return a[0] >= b[0] and sign * a[1] >= sign * b[1] and (a[0] > b[0] or sign * a[1] > sign * b[1])

    return sorted((p for p in points if not any(beats(q, p) for q in points if q is not p)), key=lambda p: p[0])


def fronts(cs: Sequence[Curve]) -> list[FrontPoint]:
    """Per model: the throughput-per-device front (per device unit) and the cost front, over measured points.

    A point is on a front when no other point of the same model is at least as fast per user and at least
    as good on the other axis (more tokens/s per device; fewer $ per 1M tokens), better on one."""
    out: list[FrontPoint] = []
    for group in dict.fromkeys(c.group for c in cs):
        mine = [c for c in cs if c.group == group]
        for unit in dict.fromkeys(c.devices.unit for c in mine if c.devices.count):
            pts = [(p.tok_s_user, p.tok_s_device, (c, p)) for c in mine if c.devices.unit == unit
                   for p in c.points if p.tok_s_device is not None]
            out += [_fp(group, "tok_s_device", unit, x, y, cp) for x, y, cp in _front(pts, True)]
        pts = [(p.tok_s_user, p.cost_per_1m, (c, p)) for c in mine for p in c.points if p.cost_per_1m is not None]
        out += [_fp(group, "cost_per_1m", None, x, y, cp) for x, y, cp in _front(pts, False)]
    return out


def _fp(group: str, axis: str, unit: str | None, x: float, y: float, cp) -> FrontPoint:
    c, p = cp
    return FrontPoint(group=group, axis=axis, unit=unit, deployment=c.deployment, run_id=p.run_id, level=p.level,
                      tok_s_user=x, value=y)


# --------------------------------------------------------------------------- read-off


def _interp(xs: Sequence[float], ys: Sequence[float], x: float) -> float | None:
    """Monotone (PCHIP) interpolation through (xs, ys) at x; None outside [min xs, max xs], never extrapolated."""
    order = np.argsort(xs)
    xa, ya = np.asarray(xs, float)[order], np.asarray(ys, float)[order]
    keep = np.concatenate([[True], np.diff(xa) > 0])
    xa, ya = xa[keep], ya[keep]
    if x < xa[0] or x > xa[-1]:
        return None
    if len(xa) == 1:
        return float(ya[0])
    from scipy.interpolate import PchipInterpolator  # noqa: PLC0415  (lazy: 0.3 s and tens of MB a measuring run never needs)

    return float(PchipInterpolator(xa, ya, extrapolate=False)(x))


def _band(points: Sequence[Point], x: float) -> tuple[float | None, float | None]:
    """The 95 % band of the deployment's tokens/s at x: the lowest and highest of the curves through the four
    corners of every point's (speed interval x throughput interval) box; None where a point has no interval or
    a corner curve does not reach x."""
    boxes = [(p.tok_s_user_lo, p.tok_s_user_hi, p.tok_s_lo, p.tok_s_hi) for p in points]
    if any(v is None for b in boxes for v in b):
        return None, None
    vals = [_interp([b[i] for b in boxes], [b[j] for b in boxes], x) for i in (0, 1) for j in (2, 3)]
    if any(v is None for v in vals):
        return None, None
    return min(vals), max(vals)


def common_reason(cs: Sequence[Curve]) -> str | None:
    """The one reason no deployment in ``cs`` has a curve (the 2023 study: no TPOT), else None."""
    reasons = {c.why_no_curve for c in cs}
    return next(iter(reasons)) if cs and len(reasons) == 1 and None not in reasons else None


def _measured_range(c: Curve) -> str:
    pts = c.points
    if len(pts) == 1:
        return f"measured only at {pts[0].tok_s_user:.4g} tok/s/user ({pts[0].level})"
    return (f"measured from {pts[0].tok_s_user:.4g} ({pts[0].level}) to {pts[-1].tok_s_user:.4g} "
            f"({pts[-1].level}) tok/s/user")


def read_off(c: Curve, target: float) -> ReadOff:
    """``c`` at ``target`` tokens/s per user: measured, interpolated between the two levels around it, or
    refused (outside the measured range; no curve)."""
    base = dict(group=c.group, deployment=c.deployment, target=target, devices=c.devices)
    if not c.points:
        return ReadOff(**base, status="no-curve", note=f"no curve: {c.why_no_curve}")
    lo_x, hi_x = c.points[0].tok_s_user, c.points[-1].tok_s_user
    span = dict(measured_from=lo_x, measured_to=hi_x)
    if not lo_x <= target <= hi_x:
        side = "faster" if target > hi_x else "slower"
        return ReadOff(**base, **span, status="outside",
                       note=f"outside its measured range ({target:g} is {side}; {_measured_range(c)}): not extrapolated")
    exact = next((p for p in c.points if np.isclose(p.tok_s_user, target, rtol=1e-9, atol=0)), None)
    if exact is not None:
        return ReadOff(**base, **span, status="measured", between=[exact.level], tok_s_device=exact.tok_s_device,
                       tok_s_device_lo=exact.tok_s_device_lo, tok_s_device_hi=exact.tok_s_device_hi,
                       cost_per_1m=exact.cost_per_1m, cost_per_1m_lo=exact.cost_per_1m_lo,
                       cost_per_1m_hi=exact.cost_per_1m_hi)
    i = next(k for k, p in enumerate(c.points) if p.tok_s_user > target)
    tput = _interp([p.tok_s_user for p in c.points], [p.tok_s for p in c.points], target)
    lo, hi = _band(c.points, target)
    n, price = c.devices.count, c.price_per_hour
    per = (lambda v: None if v is None or not n else v / n)
    cost = (lambda v: None if v is None or v <= 0 else cost_per_1m(price, v))
    return ReadOff(**base, **span, status="interpolated", between=[c.points[i - 1].level, c.points[i].level],
                   tok_s_device=per(tput), tok_s_device_lo=per(lo), tok_s_device_hi=per(hi), cost_per_1m=cost(tput),
                   cost_per_1m_lo=cost(hi), cost_per_1m_hi=cost(lo))


def read_offs(cs: Sequence[Curve], target: float) -> list[ReadOff]:
    check_target(target)
    return [read_off(c, target) for c in cs]


def check_target(target: float) -> None:
    if not target > 0 or not np.isfinite(target):
        raise ConfigError(f"--at-interactivity: {target} is not a speed", "give tokens/s per user > 0, e.g. 50")


# --------------------------------------------------------------------------- the cheapest at a speed


class SpeedPick(BaseModel):
    """``recommend --scenario cost --at-interactivity N``: per model, the cheapest deployment at N tokens/s per user."""

    group: str
    target: float
    rule: str
    pick: ReadOff | None = None
    runner_up: ReadOff | None = None
    margin: float | None = Field(None, description="(runner-up - pick) / pick, in $ per 1M tokens")
    tie: bool = False
    tied_with: list[str] = Field(default_factory=list, description="deployments that cannot be told apart")
    tie_rule: str = ""
    refused: list[str] = Field(default_factory=list, description="one line per deployment that cannot compete")
    note: str | None = None


def cheapest_at(cs: Sequence[Curve], target: float, tie_threshold: float) -> list[SpeedPick]:
    """Per model, the lowest $ per 1M tokens read off at ``target`` (measured or interpolated, never
    extrapolated). A contender whose 95 % cost interval overlaps the pick's is tied with it; where either
    has no interval, a margin below ``tie_threshold`` is a tie."""
    check_target(target)
    out = []
    for group in dict.fromkeys(c.group for c in cs):
        offs = [read_off(c, target) for c in cs if c.group == group]
        ok = sorted((r for r in offs if r.cost_per_1m is not None), key=lambda r: (r.cost_per_1m, r.deployment))
        refused = [r.line for r in offs if r.cost_per_1m is None]  # outside, no curve, or "$/1M: no price"
        sp = SpeedPick(group=group, target=target, refused=refused,
                       rule=f"lowest $ per 1M output tokens at {target:g} tokens/s per user (1000 / TPOT p50), "
                            "read off each deployment's curve over its load levels, per model")
        out.append(sp)
        same = common_reason([c for c in cs if c.group == group])
        if same:  # one line for the model, not one per deployment (the 2023 import: no TPOT)
            sp.note, sp.refused = f"no deployment of {group} has a curve: {same}", []
        if not ok:
            sp.note = sp.note or f"no deployment of {group} reaches {target:g} tok/s/user inside its measured range with a price"
            continue
        sp.pick = ok[0]
        if len(ok) > 1:
            sp.runner_up, sp.margin = ok[1], (ok[1].cost_per_1m - ok[0].cost_per_1m) / ok[0].cost_per_1m
        sp.tied_with, sp.tie_rule = _ties(ok, tie_threshold)
        sp.tie = bool(sp.tied_with)
    return out


def _ties(ranked: list[ReadOff], threshold: float) -> tuple[list[str], str]:
    best, tied, rules = ranked[0], [], set()
    for r in ranked[1:]:
        if None not in (best.cost_per_1m_hi, r.cost_per_1m_lo):
            rules.add("95 % intervals overlap")
            if r.cost_per_1m_lo <= best.cost_per_1m_hi:
                tied.append(r.deployment)
        else:
            rules.add(f"within {threshold:.0%} (no interval: fixed margin)")
            if (r.cost_per_1m - best.cost_per_1m) / best.cost_per_1m < threshold:
                tied.append(r.deployment)
    return tied, "; ".join(sorted(rules))


class Front(BaseModel):
    """``pareto --front interactivity``: every deployment's curve, the fronts, and (with a target) the read-offs."""

    curves: list[Curve]
    fronts: list[FrontPoint]
    target: float | None = None
    read_offs: list[ReadOff] = Field(default_factory=list)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def why_no_front(self) -> str | None:
        """The one reason no deployment has a curve (the 2023 study: no TPOT); None when any has one."""
        return common_reason(self.curves)


def interactivity_front(summaries: Sequence[RunSummary], devices: Mapping[str, Devices],
                        target: float | None = None) -> Front:
    cs = curves(summaries, devices)
    return Front(curves=cs, fronts=fronts(cs), target=target,
                 read_offs=read_offs(cs, target) if target is not None else [])
