"""``deploybench predict fit|validate|cells|host`` and ``deploybench capacity``.

Registered on the main app by :func:`register`. Bad input is a :class:`ConfigError` (one line).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from ..metrics import slo as slo_mod
from ..schemas import ConfigError
from ..predict import capacity as cap
from ..predict.cells import load_cells, measured_figures
from ..predict.features import measure_cpu_bandwidth
from ..predict.fit import FittedModel, fit, predict, roofline_fraction
from ..predict.validate import HOLDOUTS, validate

MODEL_FILE = "predict-model.json"
predict_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                          help="Predict cells from a calibrated roofline model; fit, validate, inspect.")
out = Console(width=None if sys.stdout.isatty() else 200)


def _json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _study(path: Path) -> Path:
    if not path.exists():
        raise ConfigError(f"path {path} does not exist",
                          "give a folder written by `deploybench run` or `deploybench import-seed`")
    return path


def _model(path: Path, model_file: Path | None):
    cells = load_cells(_study(path))
    if model_file is not None:
        return cells, FittedModel.load(model_file)
    stored = path / MODEL_FILE
    return cells, FittedModel.load(stored) if stored.is_file() else fit(cells, source=str(path))


def _f(v: float | None, fmt: str = "{:.1f}") -> str:
    return "—" if v is None else fmt.format(v)


@predict_app.command("fit")
def fit_cmd(path: Path = typer.Argument(..., help="study folder"),
            out_file: Optional[Path] = typer.Option(None, "--out", help=f"model file (default: DIR/{MODEL_FILE})"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Calibrate the model on every complete cell of a study (per engine x hardware family); write it."""
    cells = load_cells(_study(path))
    model = fit(cells, source=str(path))
    dest = model.save(out_file or path / MODEL_FILE)
    if as_json:
        _json({"file": str(dest), **model.model_dump()})
        return
    t = Table(title=f"fitted on {model.cells} cells -> {dest}", box=box.SIMPLE_HEAD)
    for c in ("group", "cells", "e_mem", "e_pre", "o_layer ms", "alpha ms", "q_overhead", "k_queue"):
        t.add_column(c, justify="left" if c == "group" else "right")
    for g, p in [("(global)", model.global_params), *model.groups.items()]:
        t.add_row(g, str(model.group_cells.get(g, model.cells)), f"{p.e_mem:.2f}", f"{p.e_pre:.2f}",
                  f"{p.o_layer:.3f}", f"{p.alpha:.4f}", f"{p.q_overhead:.2f}", f"{p.k_queue:.2f}")
    out.print(t)
    out.print("fit error (RMS, relative): " + ", ".join(f"{k} {v:.1%}" for k, v in model.sigma.items()))


@predict_app.command("validate")
def validate_cmd(path: Path = typer.Argument(..., help="study folder"),
                 holdout: str = typer.Option("model", "--holdout", help="model | hardware"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Fit on all but one model size (or instance type), predict it; MAPE per figure and picks agreement."""
    if holdout not in HOLDOUTS:
        raise ConfigError(f"--holdout: unknown '{holdout}'", f"use one of: {', '.join(HOLDOUTS)}")
    v = validate(load_cells(_study(path)), holdout)
    if as_json:
        _json(v.model_dump())
        return
    t = Table(title=f"hold out each {holdout}: predicted vs measured", box=box.SIMPLE_HEAD)
    for c in ("held out", "run", "ms/tok pred", "meas", "err", "tok/s pred", "meas", "err"):
        t.add_column(c, justify="left" if c in ("held out", "run") else "right")
    for x in v.cells:
        t.add_row(x.fold, x.run_id, _f(x.predicted.get("ms_per_token")), _f(x.measured.get("ms_per_token")),
                  _f(x.error_pct.get("ms_per_token"), "{:+.0f}%"), _f(x.predicted.get("tok_s")),
                  _f(x.measured.get("tok_s")), _f(x.error_pct.get("tok_s"), "{:+.0f}%"))
    out.print(t)
    for f in v.folds:
        out.print(f"  {f.held_out}: MAPE " + ", ".join(f"{k} {m:.1f}%" for k, m in f.mape.items()))
    out.print(f"MAPE over held-out cells: " + ", ".join(f"{k} {m:.1f}%" for k, m in v.mape.items()))
    out.print(f"picks same as measured: {v.picks_same}/{v.picks_total} ({v.picks_same_or_tie} counting ties); "
              f"basis {v.basis}")
    for p in v.picks:
        if not p.same:
            out.print(f"  differs: held out {p.fold}, {p.model} {p.scenario}: measured {p.measured}, "
                      f"predicted {p.predicted}{' (tie)' if p.tie else ''}")


@predict_app.command("cells")
def cells_cmd(path: Path = typer.Argument(..., help="study folder"),
              model_file: Optional[Path] = typer.Option(None, "--model", help=f"model file (default: DIR/{MODEL_FILE} or a fit)"),
              as_json: bool = typer.Option(False, "--json")) -> None:
    """Every cell predicted (± 1 sigma) beside its measurement, and the share of its roofline bound it reaches."""
    cells, model = _model(path, model_file)
    rows = []
    for c in cells:
        p = predict(model, c.features)
        m = measured_figures(c.summary) if c.summary else {}
        rows.append({"run_id": c.features.run_id, "prediction": p.model_dump(), "measured": m,
                     "roofline_fraction": roofline_fraction(c.features, m.get("ms_per_token"), m.get("tpot_ms"))})
    if as_json:
        _json(rows)
        return
    t = Table(title="predicted (± 1 sigma) vs measured", box=box.SIMPLE_HEAD)
    for c in ("run", "ms/tok pred", "meas", "tok/s pred", "meas", "$/1M pred", "bound", "% roofline"):
        t.add_column(c, justify="left" if c == "run" else "right")
    for r in rows:
        p, m = r["prediction"], r["measured"]
        u = p["uncertainty"]
        t.add_row(r["run_id"], f"{p['ms_per_token']:.1f} ±{u['ms_per_token']:.0%}", _f(m.get("ms_per_token")),
                  f"{p['tok_s']:.1f} ±{u['tok_s']:.0%}", _f(m.get("tok_s")), _f(p["cost_per_1m"], "{:.2f}"),
                  p["bound"], _f(r["roofline_fraction"] and 100 * r["roofline_fraction"], "{:.0f}%"))
    out.print(t)


@predict_app.command("host")
def host_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Measure this host's memory bandwidth (numpy copy) and float32 FLOP/s (about a second)."""
    m = measure_cpu_bandwidth()
    if as_json:
        _json(m)
        return
    out.print(f"memory bandwidth {m['bandwidth_gbs']:.1f} GB/s, float32 {m['tflops'] * 1e3:.0f} GFLOP/s ({m['source']})")


def capacity_cmd(path: Path = typer.Argument(..., help="study folder"),
                 target_rate: float = typer.Option(..., "--target-rate", help="requests/s the fleet must serve"),
                 slo: Optional[str] = typer.Option(None, "--slo", help='e.g. "p90_ttft_ms<=500,p50_tpot_ms<=40"'),
                 hours_per_day: float = typer.Option(24.0, "--hours-per-day", help="hours a day at the target rate"),
                 min_replicas: int = typer.Option(0, "--min-replicas", help="replicas kept up the rest of the day"),
                 startup_s: Optional[float] = typer.Option(None, "--startup-s", help="billed start-up per replica (default by engine)"),
                 model_file: Optional[Path] = typer.Option(None, "--model", help=f"model file (default: DIR/{MODEL_FILE} or a fit)"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Replicas and fleet cost per deployment for a target request rate within an SLO (predicted), cheapest first."""
    if not 0 < hours_per_day <= 24:
        raise ConfigError(f"--hours-per-day: {hours_per_day} is not in (0, 24]", "give hours a day, e.g. 12")
    if min_replicas < 0 or (startup_s is not None and startup_s < 0):
        raise ConfigError("--min-replicas / --startup-s must be >= 0", "give 0 or more")
    constraints = slo_mod.parse(slo)
    cap.check_slo(constraints)
    cells, model = _model(path, model_file)
    kinds = {c.features.deployment: (c.meta.engine.kind if c.meta and c.meta.engine else "") for c in cells}
    life = cap.Lifecycle(hours_per_day=hours_per_day, min_replicas=min_replicas, startup_s=startup_s)
    errs: dict[str, list[float]] = {}
    for c in cells:
        if "ms_per_token" in c.measured:
            p = predict(model, c.features)
            errs.setdefault(c.features.deployment, []).append(p.ms_per_token / c.measured["ms_per_token"] - 1)
    fit_err = {d: 100 * sum(v) / len(v) for d, v in errs.items()}
    rows = cap.plan([c.features for c in cells], model, constraints, target_rate, life, kinds, fit_err)
    if as_json:
        _json({"target_rate_rps": target_rate, "slo": [str(c) for c in constraints], "lifecycle": life.model_dump(),
               "rows": [r.model_dump() for r in rows]})
        return
    _capacity_table(rows, target_rate, constraints, life)


def _capacity_table(rows, target_rate: float, constraints, life) -> None:
    title = (f"{target_rate:g} req/s within {', '.join(map(str, constraints)) or 'no SLO'}; "
             f"{life.hours_per_day:g} h/day, {life.min_replicas} replica(s) otherwise — all figures predicted")
    title += "; fit err = the model's mean ms/token error on the deployment's measured closed-loop cells"
    t = Table(title=title, box=box.SIMPLE_HEAD)
    for c in ("deployment", "max req/s per replica", "replicas", "$/h fleet", "$/day", "$/1M tok", "start-up s",
              "fit err", "note"):
        t.add_column(c, justify="left" if c in ("deployment", "note") else "right")
    for r in rows:
        t.add_row(r.deployment, f"{r.max_rate_rps:.2f}", _f(r.replicas, "{:d}"), _f(r.usd_per_hour, "{:.2f}"),
                  _f(r.usd_per_day, "{:.0f}"), _f(r.usd_per_1m_tokens, "{:.2f}"), f"{r.startup_s:.0f}",
                  _f(r.fit_error_pct, "{:+.0f}%"),
                  (r.note + "; " if r.note else "") + r.source)
    out.print(t)


def register(app: typer.Typer) -> None:
    app.add_typer(predict_app, name="predict")
    app.command("capacity")(capacity_cmd)
