"""Capacity plans: per deployment, the highest request rate one replica sustains within an SLO,
the replicas a target rate needs, and what that fleet costs under a stated lifecycle.

Open loop at rate r (requests/s) on one replica with continuous batching: the requests in flight
b solve Little's law ``b = r x S(b)``, where ``S(b)`` is a request's server time at batch b
(its prefill, the prefills of the b - 1 others that join while it runs, and output - 1 decode
steps). Once b reaches the batch limit c (KV capacity or engine slots), requests wait for a slot:
Erlang C with c servers of mean service time S(c). TTFT at quantile q = slot wait at q + prefill
of the q-quantile prompt + half a decode step; TPOT = decode step + the others' prefills spread
over the output. These figures are *predicted* (marked so); a deployment whose rate sweep was
measured uses its highest swept rate within the SLO instead (:func:`measured_rates`, marked measured); one
imported with open-loop rate cells (``deploybench import``) its highest imported rate within the SLO.

Lifecycle: the fleet serves the target rate ``hours_per_day`` hours a day and scales down to
``min_replicas`` otherwise; every scale-up pays ``startup_s`` per replica of billed time that
serves nothing. $/1M tokens = daily cost / daily tokens served at the target rate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from ..metrics.capacity import max_rate_within_slo, nominal_rps
from ..metrics.slo import OPS, Constraint
from ..schemas import ConfigError, engine_plugins
from ..storage import read_sweeps  # the sweep file's one reader
from ..storage.cells import IMPORT, combined_cells, load_cell
from .features import CellFeatures, Workload
from .fit import FittedModel
from .model import Params, decode_step_ms, max_batch, prefill_ms

__all__ = ["Lifecycle", "PlanRow", "RatePoint", "check_slo", "erlang_c", "max_rate", "measured_rates", "plan",
           "prompt_quantile", "rate_point"]

PREDICTABLE = {"ttft_ms", "tpot_ms", "e2e_ms", "ms_per_token"}
_Z = {"p50": 0.0, "mean": 0.0, "p90": 1.2816, "p95": 1.6449, "p99": 2.3263, "min": -2.0, "max": 3.0}


class Lifecycle(BaseModel):
    hours_per_day: float = Field(24.0, gt=0, le=24, description="hours a day at the target rate")
    min_replicas: int = Field(0, ge=0, description="replicas kept running outside those hours")
    startup_s: float | None = Field(None, ge=0, description="billed start-up per replica per day (default by engine)")


class RatePoint(BaseModel):
    rate: float
    in_flight: float
    batch_limit: int
    stable: bool
    figures: dict[str, dict[str, float]] = Field(description="metric -> stat -> predicted value")


class PlanRow(BaseModel):
    deployment: str
    model: str
    hardware: str
    quantization: str
    max_rate_rps: float = Field(description="highest rate one replica sustains within the SLO")
    source: str = "predicted"
    replicas: int | None = None
    usd_per_hour: float | None = Field(None, description="fleet, while serving the target rate")
    usd_per_day: float | None = None
    usd_per_1m_tokens: float | None = Field(None, description="lifecycle cost per 1M output tokens served")
    startup_s: float = 0.0
    fit_error_pct: float | None = Field(None, description="the model's mean ms/token error on this deployment's "
                                        "measured cells: how far to trust the row")
    note: str = ""


def _startup_s(kind: str) -> float:
    """The engine plugin's start-up estimate (the plan's wall-time estimate uses the same)."""
    plugin = engine_plugins().get(kind)
    return plugin.startup_s if plugin is not None else 60.0


def prompt_quantile(w: Workload, stat: str) -> float:
    """Prompt length at ``stat``, assuming a log-normal with the workload's mean and median."""
    if stat == "mean":
        return w.input_mean
    sigma = math.sqrt(max(0.0, 2 * math.log(w.input_mean / w.input_median)))
    return w.input_median * math.exp(_Z.get(stat, 0.0) * sigma)


def erlang_c(c: int, a: float) -> float:
    """Probability an arrival waits, M/M/c with offered load ``a`` (= rate x service time)."""
    if a >= c:
        return 1.0
    term, total = 1.0, 1.0
    for k in range(1, c):
        term *= a / k
        total += term
    term *= a / c
    last = term * c / (c - a)
    return last / (total + last)


def _service_ms(f: CellFeatures, b: float, p: Params) -> tuple[float, float]:
    """(request server time, decode step) at b requests in flight."""
    bi = max(1, int(math.ceil(b)))
    ctx = f.workload.input_mean + f.workload.output_tokens / 2
    dec = decode_step_ms(f, bi, ctx, p)[0]
    s = prefill_ms(f, f.workload.input_mean * max(1.0, b), p) + (f.workload.output_tokens - 1) * dec
    return s, dec


def rate_point(f: CellFeatures, p: Params, rate: float) -> RatePoint:
    """Predicted figures of one replica at ``rate`` requests/s (open loop)."""
    c = max(1, max_batch(f, p))
    b = rate * _service_ms(f, 1, p)[0] / 1e3
    for _ in range(50):  # fixed point of b = rate x S(b)
        b_new = min(float(c), rate * _service_ms(f, b, p)[0] / 1e3)
        if abs(b_new - b) < 1e-3:
            break
        b = b_new
    s, dec = _service_ms(f, b, p)
    load = rate * s / 1e3
    stable = load < c
    pw = erlang_c(c, load) if stable else 1.0
    mean_wait = pw * s / (c - load) / c if stable else math.inf
    out, fig = f.workload.output_tokens, {}
    own = prefill_ms(f, f.workload.input_median, p)
    tpot = dec + max(0.0, s - own - (out - 1) * dec) / max(1.0, out - 1)
    for stat in _Z:
        wait = 0.0 if not stable else (mean_wait if stat == "mean" else _wait_q(pw, s, c, load, stat))
        pre = prefill_ms(f, prompt_quantile(f.workload, stat), p)
        e2e = wait + s - own + pre
        fig.setdefault("ttft_ms", {})[stat] = wait + pre + (dec / 2 if b > 1 else 0.0)
        fig.setdefault("tpot_ms", {})[stat] = tpot
        fig.setdefault("e2e_ms", {})[stat] = e2e
        fig.setdefault("ms_per_token", {})[stat] = e2e / out
    return RatePoint(rate=rate, in_flight=b, batch_limit=c, stable=stable, figures=fig)


def _wait_q(pw: float, s: float, c: int, load: float, stat: str) -> float:
    q = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99, "max": 0.999}.get(stat, 0.0)
    if q <= 0 or pw <= 1 - q:
        return 0.0
    return s / (c - load) * math.log(pw / (1 - q))


def _meets(rp: RatePoint, slo: Sequence[Constraint]) -> bool:
    return rp.stable and all(OPS[k.op](rp.figures[k.metric][k.stat or "p50"], k.value) for k in slo)


def check_slo(slo: Sequence[Constraint]) -> None:
    """ConfigError for a constraint the model cannot predict (e.g. error_rate)."""
    for k in slo:
        if k.metric not in PREDICTABLE or (k.stat or "p50") not in _Z:
            raise ConfigError(f"--slo: '{k}' cannot be predicted",
                              f"constrain one of: {', '.join(sorted(PREDICTABLE))} at p50/p90/p95/p99/mean")


def max_rate(f: CellFeatures, p: Params, slo: Sequence[Constraint], tol: float = 0.002) -> float:
    """Highest rate (req/s) whose predicted figures meet every constraint (0 if none does)."""
    check_slo(slo)
    c = max(1, max_batch(f, p))
    hi = c / (_service_ms(f, c, p)[0] / 1e3)  # saturation rate
    if not _meets(rate_point(f, p, hi * 1e-4), slo):
        return 0.0
    lo = hi * 1e-4
    while hi - lo > tol * hi:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if _meets(rate_point(f, p, mid), slo) else (lo, mid)
    return lo


def measured_rates(study_dir: Path | str, slo: Sequence[Constraint]) -> dict[str, tuple[float, str]]:
    """deployment -> (highest measured rate within ``slo``, how) for every deployment with a completed rate
    sweep (``<dep>__sweep.json``, :mod:`deploybench.sweep.ratesweep`).

    The rate is :func:`deploybench.metrics.capacity.max_rate_within_slo` over the sweep's rate cells,
    judged on *this* SLO (not necessarily the sweep's own), leaving out the point where the sweep saw
    the server over-saturated; with several trials, the lowest. A sweep none of whose rates meets the
    SLO gives 0 (measured: no swept rate met it).
    """
    out: dict[str, tuple[float, str]] = {}
    for sw in read_sweeps(Path(study_dir)):
        if sw.get("status") != "complete":
            continue
        cells = [load_cell(Path(study_dir) / rid).summary for rid in sw.get("cells", [])
                 if (Path(study_dir) / rid).is_dir()]
        points = [c for c in cells if c.level_kind == "rate"]
        if not points:
            continue
        dep = points[0].deployment
        over = {sw["points"][-1]["run_id"]} if sw.get("stopped_early") and sw.get("points") else set()
        best = max_rate_within_slo(points, slo, over).get(dep)
        rate = nominal_rps(best) if best is not None else 0.0
        how = (f"measured: highest of {len(points)} swept rates within the SLO" if best is not None
               else f"measured: none of {len(points)} swept rates meets the SLO")
        if dep not in out or rate < out[dep][0]:
            out[dep] = (rate, how)
    for dep, rate_how in _imported_rates(Path(study_dir), slo).items():
        out.setdefault(dep, rate_how)  # a measured sweep of the same deployment wins
    return out


def _imported_rates(study_dir: Path, slo: Sequence[Constraint]) -> dict[str, tuple[float, str]]:
    """deployment -> (highest imported open-loop rate within ``slo``, how), for deployments imported with rate
    cells (``deploybench import``: another tool's or a table's measured rates), judged like a sweep's points."""
    points: dict[str, list] = {}
    for c in combined_cells(study_dir):
        if c.meta.labels.get("source") == IMPORT and c.summary.level_kind == "rate":
            points.setdefault(c.summary.deployment, []).append(c.summary)
    out = {}
    for dep, cells in points.items():
        best = max_rate_within_slo(cells, slo).get(dep)
        tool = cells[0].labels.get("tool", "import")
        out[dep] = ((nominal_rps(best), f"imported ({tool}): highest of {len(cells)} rates within the SLO")
                    if best is not None else (0.0, f"imported ({tool}): none of {len(cells)} rates meets the SLO"))
    return out


def _row(f: CellFeatures, model: FittedModel, slo, target: float, life: Lifecycle, engine_kind: str,
         measured: tuple[float, str] | None = None) -> PlanRow:
    p, calibrated = model.params_for(f)
    if measured is not None:
        r, source = measured
    else:
        r, source = max_rate(f, p, slo), "predicted" + ("" if calibrated else ", uncalibrated family")
    startup = life.startup_s if life.startup_s is not None else _startup_s(engine_kind)
    row = PlanRow(deployment=f.deployment, model=f.model, hardware=f.hardware.name, quantization=f.quantization,
                  max_rate_rps=r, startup_s=startup, source=source)
    price = f.hardware.price_per_hour
    if r <= 0:
        row.note = "no rate meets the SLO"
        return row
    row.replicas = math.ceil(target / r - 1e-9)
    if price is None:
        row.note = "no price"
        return row
    row.usd_per_hour = row.replicas * price
    idle_h = 24 - life.hours_per_day
    starts = row.replicas - min(life.min_replicas, row.replicas) if idle_h > 0 else 0
    row.usd_per_day = price * (row.replicas * life.hours_per_day + life.min_replicas * idle_h + starts * startup / 3600)
    tokens = target * f.workload.output_tokens * 3600 * life.hours_per_day
    row.usd_per_1m_tokens = row.usd_per_day / tokens * 1e6
    return row


def plan(features: Sequence[CellFeatures], model: FittedModel, slo: Sequence[Constraint], target_rate: float,
         lifecycle: Lifecycle | None = None, engine_kinds: dict[str, str] | None = None,
         fit_errors: dict[str, float] | None = None,
         measured: dict[str, tuple[float, str]] | None = None) -> list[PlanRow]:
    """One row per deployment, cheapest fleet ($/1M tokens) first; rows that cannot serve last.

    ``measured`` (:func:`measured_rates`): deployments whose rate sweep was measured use that rate
    (``source`` says "measured: ..."); the others use the model's prediction (``source`` "predicted").
    """
    if target_rate <= 0:
        raise ConfigError(f"--target-rate: {target_rate} is not a rate", "give requests per second > 0, e.g. 50")
    life = lifecycle or Lifecycle()
    one = {}
    for f in features:  # one feature set per deployment (the level does not matter here)
        one.setdefault(f.deployment, f)
    rows = [_row(f, model, slo, target_rate, life, (engine_kinds or {}).get(d, ""), (measured or {}).get(d))
            for d, f in one.items()]
    for r in rows:
        r.fit_error_pct = (fit_errors or {}).get(r.deployment)
    return sorted(rows, key=lambda r: (r.usd_per_1m_tokens is None, r.usd_per_1m_tokens or 0.0, r.deployment))
