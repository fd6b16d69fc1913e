"""Hold-out validation: fit on part of a study, predict the rest, compare figures and picks.

* ``holdout="model"``: each model size in turn is held out; the fit sees the others. Picks of the
  held-out model are made from predictions alone and compared with the picks from measurements.
* ``holdout="hardware"``: each instance type in turn is held out. Picks per model are made over
  the measured cells of the other instance types plus the *predicted* cells of the held-out one,
  and compared with the picks over all measured cells (a pair counts only where the model has
  cells on the held-out instance).

Picks use :func:`deploybench.recommend.recommend` (the 2023 rules) with ``basis="study"`` when
the cells carry the study's own throughput, so predicted and measured cells compete on the same
figure. A pick that differs but lies within the tie threshold of the measured pick (on measured
figures) counts as ``tie``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, Field

from ..recommend import RULES, TIE_REL, recommend
from ..recommend import figures as rfig
from ..schemas import ConfigError, RunSummary
from .cells import Cell
from .fit import FittedModel, fit, predict
from .model import Prediction

__all__ = ["CellCheck", "Fold", "PickCheck", "Validation", "as_summary", "mape", "validate"]

HOLDOUTS = ("model", "hardware", "engine", "concurrency", "length")
FIGS = ("ms_per_token", "tok_s", "tpot_ms", "ttft_ms")


class CellCheck(BaseModel):
    run_id: str
    fold: str
    model: str
    hardware: str
    concurrency: int
    predicted: dict[str, float]
    measured: dict[str, float]
    error_pct: dict[str, float] = Field(description="(predicted / measured - 1) x 100")
    uncertainty_pct: dict[str, float] = Field(default_factory=dict)
    calibrated: bool = True


class PickCheck(BaseModel):
    fold: str
    model: str
    scenario: str
    measured: str | None
    predicted: str | None
    same: bool
    tie: bool = Field(False, description="different pick, but within the tie threshold on measured figures")


class Fold(BaseModel):
    held_out: str
    train_cells: int
    test_cells: int
    mape: dict[str, float]


class Validation(BaseModel):
    holdout: str
    cells: list[CellCheck]
    folds: list[Fold]
    mape: dict[str, float] = Field(description="figure -> mean |error| % over every held-out cell")
    picks: list[PickCheck]
    picks_same: int
    picks_same_or_tie: int
    picks_total: int
    basis: str


def mape(pred: Sequence[float], meas: Sequence[float]) -> float:
    """Mean absolute percentage error, in percent."""
    p, m = np.asarray(pred, float), np.asarray(meas, float)
    if len(p) == 0:
        return float("nan")
    return float(np.mean(np.abs(p / m - 1.0)) * 100)


def _key(c: Cell, holdout: str) -> str:
    """The fold a cell belongs to: its model, hardware, engine label, concurrency (``c16``) or workload
    lengths (``3200/800``: mean input / output tokens)."""
    f = c.features
    if holdout == "model":
        return f.model
    if holdout == "hardware":
        return f.hardware.name
    if holdout == "engine":
        return f.engine
    if holdout == "concurrency":
        return f"c{f.concurrency}"
    return f"{f.workload.input_mean:.0f}/{f.workload.output_tokens:.0f}"


def _mapes(checks: Sequence[CellCheck]) -> dict[str, float]:
    """MAPE per figure over the checks that have it (figures no cell has are left out)."""
    return {f: mape([x.predicted[f] for x in checks if f in x.predicted],
                    [x.measured[f] for x in checks if f in x.measured])
            for f in FIGS if any(f in x.measured for x in checks)}


def as_summary(s: RunSummary, p: Prediction) -> RunSummary:
    """A copy of a stored summary carrying predicted figures (ms/token median, tok/s, cost)."""
    upd: dict = {"output_throughput_tok_s": p.tok_s, "cost_per_1m_tokens": p.cost_per_1m,
                 "minutes_per_1m_tokens": 1e6 / p.tok_s / 60, "external": {**s.external}}
    for name in ("ms_per_token", "server_ms_per_token"):
        d = getattr(s, name, None)
        if d is not None and d.p50 is not None:
            upd[name] = d.model_copy(update={"p50": p.ms_per_token})
    if rfig.study_throughput(s) is not None:
        upd["external"]["study_throughput_tok_s"] = p.tok_s
    return s.model_copy(update=upd)


def _check(c: Cell, fold: str, p: Prediction) -> CellCheck:
    pred = {k: getattr(p, k) for k in FIGS if k in c.measured}
    err = {k: (pred[k] / c.measured[k] - 1) * 100 for k in pred}
    return CellCheck(run_id=c.features.run_id, fold=fold, model=c.features.model, hardware=c.features.hardware.name,
                     concurrency=c.features.concurrency, predicted=pred,
                     measured={k: c.measured[k] for k in pred}, error_pct=err,
                     uncertainty_pct={k: p.uncertainty.get(k, 0.0) * 100 for k in pred}, calibrated=p.calibrated)


def _pick_id(pick) -> str | None:
    return pick.deployment


def _compare_picks(fold: str, models: list[str], measured: list[RunSummary], mixed: list[RunSummary],
                   basis: str) -> list[PickCheck]:
    out = []
    by_id = {s.run_id: s for s in measured}
    for scenario in RULES:  # the 2023 rules (capacity needs open-loop cells)
        truth = {p.group: p for p in recommend(measured, scenario, basis=basis)}
        guess = {p.group: p for p in recommend(mixed, scenario, basis=basis)}
        for model in models:
            t, g = truth.get(model), guess.get(model)
            same = t is not None and g is not None and _pick_id(t) == _pick_id(g)
            tie = False
            if not same and t and g and t.value and g.run_id in by_id:
                v = rfig.median_ms_per_token(by_id[g.run_id]) if scenario == "latency" else (
                    rfig.cost(by_id[g.run_id], basis) if scenario == "cost" else rfig.throughput(by_id[g.run_id], basis))
                tie = v is not None and abs(v - t.value) / abs(t.value) < TIE_REL
            out.append(PickCheck(fold=fold, model=model, scenario=scenario, measured=_pick_id(t) if t else None,
                                 predicted=_pick_id(g) if g else None, same=same, tie=tie))
    return out


def _order(key: str):
    """Folds in a readable order: model sizes as the picks order them, numbers (c4 < c16, 3200/800 < 3200/1600)
    by value."""
    import re

    nums = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", key)]
    return (rfig.group_order(key), nums, key)


def _fold(cells: list[Cell], holdout: str, key: str, basis: str, train_keys: Sequence[str] | None = None,
          **fit_kw) -> tuple[Fold, list[CellCheck], list[PickCheck]]:
    train = [c for c in cells if _key(c, holdout) != key and (train_keys is None or _key(c, holdout) in train_keys)]
    test = [c for c in cells if _key(c, holdout) == key]
    if holdout == "length":  # compare lengths at the levels where another length was measured too
        shared = {c.features.concurrency for c in cells if _key(c, holdout) != key}
        test = [c for c in test if c.features.concurrency in shared]
    model: FittedModel = fit(train, source=f"holdout {holdout}={key}", **fit_kw)
    preds = {c.features.run_id: predict(model, c.features) for c in test}
    checks = [_check(c, key, preds[c.features.run_id]) for c in test]
    fold = Fold(held_out=key, train_cells=len(train), test_cells=len(test), mape=_mapes(checks))
    measured = [c.summary for c in cells if c.summary is not None]
    pred_ids = set(preds)
    if holdout == "model":
        measured = [s for s in measured if s.labels.get("model") == key]
    mixed = [as_summary(s, preds[s.run_id]) if s.run_id in pred_ids else s for s in measured]
    models = sorted({c.features.model for c in test}, key=rfig.group_order)
    return fold, checks, _compare_picks(key, models, measured, mixed, basis)


def validate(cells: Sequence[Cell], holdout: str = "model", train: Sequence[str] | None = None,
             **fit_kw) -> Validation:
    """Hold out each model size (or instance type) in turn; see the module docstring.

    ``train``: fit only on these models (or instance types) and hold out each of the others, e.g.
    fit on generated 30M/50M/100M models and predict SmolLM2 and Gemma 3.
    """
    if holdout not in HOLDOUTS:
        raise ConfigError(f"--holdout: unknown '{holdout}'", f"use one of: {', '.join(HOLDOUTS)}")
    cells = list(cells)
    keys = sorted({_key(c, holdout) for c in cells}, key=_order)
    if train:
        unknown = [k for k in train if k not in keys]
        if unknown:
            raise ConfigError(f"--train: no {holdout} '{unknown[0]}' in the study",
                              f"use some of: {', '.join(keys)}")
        keys = [k for k in keys if k not in train]
        if not keys:
            raise ConfigError(f"--train lists every {holdout}: nothing is left to predict",
                              f"leave at least one {holdout} out of --train")
    if len(keys) < 2:
        raise ConfigError(f"--holdout {holdout}: the study has only one {holdout} ({', '.join(keys)})",
                          f"validate on a study with two or more {holdout}s, or use another holdout")
    basis = "study" if all(c.summary is not None and rfig.study_throughput(c.summary) is not None
                           for c in cells) else "deploybench"
    folds, checks, picks = [], [], []
    for key in keys:
        f, c, p = _fold(cells, holdout, key, basis, train, **fit_kw)
        folds.append(f)
        checks += c
        picks += p
    overall = _mapes(checks)
    return Validation(holdout=holdout, cells=checks, folds=folds, mape=overall, picks=picks,
                      picks_same=sum(p.same for p in picks), picks_same_or_tie=sum(p.same or p.tie for p in picks),
                      picks_total=len(picks), basis=basis)
