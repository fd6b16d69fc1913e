"""``deploybench doctor``: how much load this client drives on this host (and ``run``'s pre-flight)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .. import api

err = Console(stderr=True)


def doctor_cmd(
    study: Optional[Path] = typer.Argument(None, help="a study YAML: drive twice its planned peak of streams"),
    streams: Optional[int] = typer.Option(None, "--streams", min=1, help="streams to drive (default 256, or "
                                          "twice a study's planned peak)"),
    seconds: float = typer.Option(3.0, "--seconds", min=0.5, max=60, help="how long to drive them"),
    workers: str = typer.Option("1", "--workers", help="client processes: 1, N or auto (as load.workers)"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON on stdout"),
) -> None:
    """Drive the bundled scripted server on loopback and report the client's ceiling (streams, tok/s, lag)."""
    if streams is None and study is not None:
        peak = api.planned_peak(api.load_study(study).load)
        streams = 2 * peak if peak else None
    check = api.doctor(streams or 256, seconds, int(workers) if workers.isdigit() else workers)
    if as_json:
        sys.stdout.write(json.dumps(api.doctor_figures(check), indent=2) + "\n")
        return
    typer.echo(check.line())
    typer.echo(f"client ceiling here: about {check.ceiling_streams} streams, {check.tok_s:,.0f} tok/s "
               f"({'at least: it held the load' if check.holds else 'the streams worth of tokens it delivered'})")


def preflight(load, skip: bool) -> None:
    """``run``'s pre-flight: warn before anything starts when the planned peak is over half the ceiling."""
    if skip:
        return
    check, warnings = api.preflight(load)
    if check is not None:
        err.print(f"pre-flight: {check.line()}", highlight=False, markup=False)
    for line in warnings:
        err.print(f"warning: {line}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_cmd)
