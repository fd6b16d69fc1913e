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

from .. import api
from ..api import PREDICT_MODEL_FILE as MODEL_FILE
predict_app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None,
                          help="Predict cells from a calibrated roofline model; fit, validate, inspect.")
out = Console(width=None if sys.stdout.isatty() else 200)


def _json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


def _f(v: float | None, fmt: str = "{:.1f}") -> str:
    return "—" if v is None else fmt.format(v)


@predict_app.command("fit")
def fit_cmd(path: Path = typer.Argument(..., help="study folder"),
            out_file: Optional[Path] = typer.Option(None, "--out", help=f"model file (default: DIR/{MODEL_FILE})"),
            as_json: bool = typer.Option(False, "--json")) -> None:
    """Calibrate the model on every complete cell of a study (per engine x hardware family); write it."""
    model, dest = api.predict_fit(path, out_file)
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


_SHORT = {"ms_per_token": "ms/tok", "tok_s": "tok/s", "tpot_ms": "TPOT ms", "ttft_ms": "TTFT ms"}


@predict_app.command("validate")
def validate_cmd(path: Path = typer.Argument(..., help="study folder, or a table file (.csv / .parquet, the "
                                                       "`import --from table` format)"),
                 holdout: str = typer.Option("model", "--holdout",
                                             help="model | hardware | engine | concurrency | length"),
                 train: Optional[str] = typer.Option(None, "--train", help="fit only on these models (or instance "
                                                     "types, ...), comma-separated; predict each of the others"),
                 as_json: bool = typer.Option(False, "--json")) -> None:
    """Fit on all but one model (hardware, engine, concurrency level, workload length), predict it; MAPE per
    figure and picks agreement."""
    v = api.predict_validate(path, holdout, [t.strip() for t in train.split(",") if t.strip()] if train else None)
    if as_json:
        _json(v.model_dump())
        return
    figs = list(v.mape)
    t = Table(title=f"hold out each {holdout}: predicted vs measured", box=box.SIMPLE_HEAD)
    t.add_column("held out")
    t.add_column("run")
    for f in figs:
        for c in (f"{_SHORT.get(f, f)} pred", "meas", "err"):
            t.add_column(c, justify="right")
    for x in v.cells:
        row = [x.fold, x.run_id]
        for f in figs:
            row += [_f(x.predicted.get(f)), _f(x.measured.get(f)), _f(x.error_pct.get(f), "{:+.0f}%")]
        t.add_row(*row)
    out.print(t)
    for f in v.folds:
        out.print(f"  {f.held_out} ({f.test_cells} cells, fit on {f.train_cells}): MAPE "
                  + ", ".join(f"{k} {m:.1f}%" for k, m in f.mape.items()))
    out.print("MAPE over held-out cells: " + ", ".join(f"{k} {m:.1f}%" for k, m in v.mape.items()))
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
    rows = api.predict_cells(path, model_file)
    if as_json:
        _json(rows)
        return
    t = Table(title="predicted (± 1 sigma) vs measured", box=box.SIMPLE_HEAD)
    for c in ("run", "ms/tok pred", "meas", "TPOT pred", "meas", "tok/s pred", "meas", "$/1M pred", "bound",
              "% roofline"):
        t.add_column(c, justify="left" if c == "run" else "right")
    for r in rows:
        p, m = r["prediction"], r["measured"]
        u = p["uncertainty"]
        t.add_row(r["run_id"], f"{p['ms_per_token']:.1f} ±{u['ms_per_token']:.0%}", _f(m.get("ms_per_token")),
                  f"{p['tpot_ms']:.1f} ±{u['tpot_ms']:.0%}", _f(m.get("tpot_ms")),
                  f"{p['tok_s']:.1f} ±{u['tok_s']:.0%}", _f(m.get("tok_s")), _f(p["cost_per_1m"], "{:.2f}"),
                  p["bound"], _f(r["roofline_fraction"] and 100 * r["roofline_fraction"], "{:.0f}%"))
    out.print(t)


@predict_app.command("host")
def host_cmd(as_json: bool = typer.Option(False, "--json")) -> None:
    """Measure this host's memory bandwidth (numpy copy) and float32 FLOP/s (about a second)."""
    m = api.host_bandwidth()
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
    """Replicas and fleet cost per deployment for a target request rate within an SLO (measured rate sweeps, else
    predicted), cheapest first."""
    rows, constraints, life = api.capacity(path, target_rate, slo, hours_per_day, min_replicas, startup_s, model_file)
    if as_json:
        _json({"target_rate_rps": target_rate, "slo": [str(c) for c in constraints], "lifecycle": life.model_dump(),
               "rows": [r.model_dump() for r in rows]})
        return
    _capacity_table(rows, target_rate, constraints, life)


def _capacity_table(rows, target_rate: float, constraints, life) -> None:
    title = (f"{target_rate:g} req/s within {', '.join(map(str, constraints)) or 'no SLO'}; "
             f"{life.hours_per_day:g} h/day, {life.min_replicas} replica(s) otherwise — max req/s measured where a rate sweep was, "
             "predicted otherwise (source column)")
    title += ("; fit err = the model's mean ms/token error (TPOT where no ms/token was measured) on the "
              "deployment's measured closed-loop cells")
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


def print_pruning(result, console: Console) -> None:
    """After ``run --prune``: every cell, measured or skipped (skipped ones PREDICTED), and what pruning saved."""
    if result is None:
        return
    t = Table(title=f"--prune (margin {result.margin:.0%}): predicted vs measured; skipped cells show predictions only",
              box=box.SIMPLE_HEAD)
    for c in ("cell", "status", "why", "ms/tok predicted", "measured", "tok/s predicted", "measured",
              "$/1M predicted"):
        t.add_column(c, justify="left" if c in ("cell", "status", "why") else "right")
    for c in result.cells:
        pred, meas = c.predicted_before or c.predicted, c.measured or {}
        t.add_row(c.run_id, c.status if c.status != "skipped" else "skipped (PREDICTED)", ", ".join(c.why) or "—",
                  _f(pred.get("ms_per_token"), "{:.2f}"), _f(meas.get("ms_per_token"), "{:.2f}"),
                  _f(pred.get("tok_s")), _f(meas.get("tok_s")), _f(pred.get("cost_per_1m"), "{:.3f}"))
    console.print(t)
    console.print(f"pruning measured {result.measured_cells} of {len(result.cells)} cells "
                  f"({result.skipped_cells} skipped, {result.engine_starts} engine starts, {result.rounds} rounds): "
                  f"saved ~{result.saved_wall_s:.0f} s of wall time and ${result.saved_usd:.4f} by the plan's "
                  f"estimate (full grid ~{result.full_wall_s:.0f} s, measured ~{result.pruned_wall_s:.0f} s); "
                  f"the skipped cells' predicted duration ~{result.skipped_predicted_s or 0:.0f} s; "
                  f"this run took {result.actual_wall_s:.0f} s", highlight=False)


def pruning_line(result) -> str | None:
    """One line after ``run --prune``: what pruning measured and saved (the table: ``--details``)."""
    if result is None:
        return None
    return (f"pruning measured {result.measured_cells} of {len(result.cells)} cells ({result.skipped_cells} "
            f"PREDICTED only): saved ~{result.saved_wall_s:.0f} s and ${result.saved_usd:.4f} by the plan's estimate")


def print_roofline(rows: dict, console: Console) -> None:
    """Console summary: the share of its roofline bound each measured cell reaches (docs/predict.md)."""
    if not rows:
        return
    t = Table(title="% of roofline: the hardware's bound on a decode step (peak memory bandwidth or FLOP/s) "
              "over the measured step (TPOT p50); on a CPU the peaks are numpy's", box=box.SIMPLE_HEAD)
    for c in ("cell", "% of roofline", "limited by"):
        t.add_column(c, justify="right" if c == "% of roofline" else "left")
    for run_id, rf in rows.items():
        t.add_row(run_id, rf.label, rf.bound)
    console.print(t)
