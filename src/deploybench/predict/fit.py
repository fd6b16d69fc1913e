"""Calibration: fit the model's efficiency factors to a stored study; a fitted model is a JSON file.

Unknowns are fitted in log space by ``scipy.optimize.least_squares`` on log(predicted / measured)
of every figure a cell has (ms/token, tok/s, TTFT, TPOT):

* global factors (:data:`GLOBAL`), shared by all cells, with a weak pull toward the priors in
  :class:`~.model.Params` so that a factor the data cannot see stays at its prior;
* per engine x hardware family adjustments of :data:`GROUPED` factors, pulled toward the global
  value (ridge, ``group_weight``): a family with few cells stays close to the global fit, and a
  family the fit never saw uses the global factors (marked ``calibrated: false``, wider uncertainty).

Uncertainty: the root-mean-square log error of each figure over the fitted cells (``sigma``), plus,
for an unseen family, the spread the family adjustments introduced (``sigma_family``).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from ..schemas import ConfigError
from .cells import Cell
from .features import CellFeatures
from .model import FIGURES, Params, Prediction, figures, predict_cell, roofline_decode_ms, step_times

__all__ = ["GLOBAL", "GROUPED", "FittedModel", "fit", "predict", "roofline_fraction"]

GLOBAL = ("e_mem", "e_pre", "o_step", "o_layer", "alpha", "e_link", "q_overhead", "q_compute", "q_comm", "k_queue",
          "k_queue_q", "moe_spread")
GROUPED = ("e_mem", "o_layer", "alpha", "e_pre", "mem_reserve")
_BOUNDS = {"e_mem": (0.05, 1.0), "e_pre": (0.01, 1.5), "e_link": (0.01, 1.5), "o_step": (1e-3, 100.0),
           "o_layer": (1e-3, 5.0), "alpha": (1e-4, 2.0), "q_overhead": (0.2, 10.0), "q_compute": (0.05, 5.0), "q_comm": (0.2, 20.0),
           "k_queue": (1e-3, 50.0), "k_queue_q": (0.1, 50.0), "moe_spread": (0.2, 1.0), "mem_reserve": (0.02, 0.8)}
PRIOR_WEIGHT = 0.05
# starts of an on-demand group's KV-budget factor (log offsets of mem_reserve from the global value); the fit
# keeps the best: a budget that binds in none of the group's cells has no gradient, so one start can miss a tight one
RESERVE_STARTS = (0.0, math.log(3.0))
LOSS, F_SCALE = "soft_l1", 0.3  # robust: a cell off by more than ~30 % pulls the fit less than squared error
FIT_FIGURES = ("ms_per_token", "tok_s", "ttft_ms", "tpot_ms")


class FittedModel(BaseModel):
    """A calibrated model: global factors, per engine x hardware family factors, error spread."""

    kind: str = "deploybench-predict-model"
    version: int = 1
    created: str = ""
    source: str = ""
    cells: int = 0
    figures: list[str] = Field(default_factory=list)
    global_params: Params = Field(default_factory=Params)
    groups: dict[str, Params] = Field(default_factory=dict, description="engine|family -> factors")
    group_cells: dict[str, int] = Field(default_factory=dict)
    sigma: dict[str, float] = Field(default_factory=dict, description="figure -> RMS log error of the fit")
    sigma_family: float = Field(0.0, description="extra log error for a family not in the fit")

    def params_for(self, f: CellFeatures) -> tuple[Params, bool]:
        if f.group in self.groups:
            return self.groups[f.group], True
        return self.global_params, False

    def save(self, path: Path | str) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.model_dump_json(indent=2), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: Path | str) -> FittedModel:
        path = Path(path)
        try:
            return cls.model_validate_json(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"model file {path} cannot be read ({exc.strerror})",
                              "give a file written by `deploybench predict fit`") from None
        except ValidationError:
            raise ConfigError(f"model file {path} is not a deploybench predict model",
                              "give a file written by `deploybench predict fit`") from None


def _unpack(x: np.ndarray, groups: list[str]) -> tuple[Params, dict[str, Params]]:
    g = dict(zip(GLOBAL, np.exp(x[:len(GLOBAL)])))
    base = Params(**g)
    out = {}
    for i, name in enumerate(groups):
        d = x[len(GLOBAL) + i * len(GROUPED): len(GLOBAL) + (i + 1) * len(GROUPED)]
        upd = {k: min(_BOUNDS[k][1], getattr(base, k) * math.exp(v)) for k, v in zip(GROUPED, d)}
        out[name] = base.model_copy(update=upd)
    return base, out


def _residuals(x, cells: Sequence[Cell], groups: list[str], group_weight: float, prior: np.ndarray) -> np.ndarray:
    base, per = _unpack(x, groups)
    res = []
    for c in cells:
        fx = figures(c.features, per.get(c.features.group, base))
        for fig in FIT_FIGURES:
            if fig in c.measured:
                res.append(math.log(max(fx[fig], 1e-9) / c.measured[fig]))
    res.extend(PRIOR_WEIGHT * (x[:len(GLOBAL)] - prior))
    res.extend(group_weight * x[len(GLOBAL):])
    return np.asarray(res)


def fit(cells: Sequence[Cell], source: str = "", group_weight: float = 1.0,
        start: Params | None = None) -> FittedModel:
    """Fit :data:`GLOBAL` factors and per-family :data:`GROUPED` adjustments to ``cells``."""
    from scipy.optimize import least_squares

    if not cells:
        raise ConfigError("no cells to fit", "give a study folder with complete runs")
    groups = sorted({c.features.group for c in cells})
    p0 = start or Params()
    prior = np.log([getattr(Params(), k) for k in GLOBAL])
    x0 = np.concatenate([np.log([getattr(p0, k) for k in GLOBAL]), np.zeros(len(groups) * len(GROUPED))])
    lo = np.concatenate([np.log([_BOUNDS[k][0] for k in GLOBAL]), np.full(len(groups) * len(GROUPED), -3.0)])
    hi = np.concatenate([np.log([_BOUNDS[k][1] for k in GLOBAL]), np.full(len(groups) * len(GROUPED), 3.0)])
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
    sol = None
    # groups whose engine admits on demand: their KV budget also sets preemption, which lengthens the median TPOT
    # only once most requests are preempted, so the fit has more than one minimum; start tighter too, keep the best
    on_demand = [i for i, g in enumerate(groups) if any(c.features.group == g and c.features.admission == "on-demand"
                                                        for c in cells)]
    idx = [len(GLOBAL) + i * len(GROUPED) + GROUPED.index("mem_reserve") for i in on_demand]
    for shift in RESERVE_STARTS[:len(RESERVE_STARTS) if idx else 1]:
        xs = x0.copy()
        xs[idx] += shift
        xs = np.clip(xs, lo + 1e-9, hi - 1e-9)
        s = least_squares(_residuals, xs, bounds=(lo, hi), args=(cells, groups, group_weight, prior),
                          loss=LOSS, f_scale=F_SCALE, max_nfev=400, xtol=1e-5, ftol=1e-5)
        if sol is None or s.cost < sol.cost - 1e-9:
            sol = s
    base, per = _unpack(sol.x, groups)
    model = FittedModel(created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"), source=source,
                        cells=len(cells), global_params=base, groups=per,
                        group_cells={g: sum(c.features.group == g for c in cells) for g in groups})
    model.figures = sorted({k for c in cells for k in c.measured if k in FIT_FIGURES})
    model.sigma, model.sigma_family = _spread(model, cells)
    return model


def _spread(model: FittedModel, cells: Sequence[Cell]) -> tuple[dict[str, float], float]:
    errs: dict[str, list[float]] = {}
    fam: list[float] = []
    for c in cells:
        p, _ = model.params_for(c.features)
        pred = predict_cell(c.features, p)
        glob = predict_cell(c.features, model.global_params)
        for fig, v in c.measured.items():
            if fig in FIT_FIGURES:
                errs.setdefault(fig, []).append(math.log(getattr(pred, fig) / v))
        fam.append(math.log(glob.ms_per_token / pred.ms_per_token))
    sigma = {k: float(np.sqrt(np.mean(np.square(v)))) for k, v in errs.items()}
    return sigma, float(np.sqrt(np.mean(np.square(fam)))) if fam else 0.0


def predict(model: FittedModel, f: CellFeatures, price_per_hour: float | None = None) -> Prediction:
    """A cell's figures with relative 1-sigma uncertainties from the model's fit spread."""
    p, calibrated = model.params_for(f)
    pred = predict_cell(f, p, price_per_hour)
    base = max(model.sigma.values()) if model.sigma else 0.25
    unc = {}
    for fig in FIGURES:
        s = model.sigma.get({"cost_per_1m": "tok_s", "e2e_ms": "tok_s"}.get(fig, fig), base)
        s = math.hypot(s, 0.0 if calibrated else max(model.sigma_family, 0.1))
        unc[fig] = math.expm1(s)
    pred.uncertainty, pred.calibrated = unc, calibrated
    return pred


def roofline_fraction(f: CellFeatures, measured_ms_per_token: float | None = None,
                      tpot_ms: float | None = None) -> float | None:
    """Share of the hardware's decode bound a measured cell reaches (0.71 = 71 % of its roofline).

    Uses the measured decode time per step (TPOT where measured; else the server-side ms/token,
    which includes prefill and so understates the share).
    """
    step = tpot_ms or measured_ms_per_token
    if not step or step <= 0:
        return None
    return roofline_decode_ms(f, step_times(f, Params()).batch) / step
