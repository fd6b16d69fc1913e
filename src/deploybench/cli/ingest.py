"""``deploybench import`` (other tools' results -> cells) and ``deploybench export`` (cells -> the table format).

Registered on the main app by :func:`register`. Every bad input is one line (file, place, fix).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .. import api

out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


def import_cmd(
    paths: list[Path] = typer.Argument(..., help="result files (vLLM bench JSON, GuideLLM benchmarks.json, AIPerf "
                                       "profile_export.jsonl / profile_export_aiperf.json, LLMPerf *_summary.json / "
                                       "*_individual_responses.json, a CSV or Parquet table)"),
    fmt: str = typer.Option(..., "--from", help=" | ".join(api.IMPORT_FORMATS)),
    out_dir: Path = typer.Option(Path("runs"), "--out", help="store folder"),
    name: Optional[str] = typer.Option(None, "--name", help="study folder name (default import-<format>); "
                                       "importing into an existing study adds cells (same cell: replaced)"),
    model: Optional[str] = typer.Option(None, "--model", help="model, where the file does not say"),
    hardware: Optional[str] = typer.Option(None, "--hardware", help="instance type (a catalog name is priced from "
                                           "the catalog) or GPU name"),
    gpus: Optional[int] = typer.Option(None, "--gpus", help="GPU count"),
    engine: Optional[str] = typer.Option(None, "--engine", help="free text: vllm, sglang, tensorrt-llm, tgi, ..."),
    precision: Optional[str] = typer.Option(None, "--precision", help="e.g. bf16, fp8, awq, Q4_K_M"),
    tp: Optional[int] = typer.Option(None, "--tp", help="tensor parallel degree"),
    price: Optional[float] = typer.Option(None, "--price-per-hour", help="$/hour (default: the catalog's for "
                                          "--hardware; none: no cost)"),
    region: Optional[str] = typer.Option(None, "--region", help="catalog price region"),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help="catalog YAML merged over the bundled one"),
    as_json: bool = typer.Option(False, "--json", help="print the study folder and the cells as JSON"),
) -> None:
    """Import other tools' results (or a table of published ones) as cells: price, pick and compare on them."""
    study_dir, cells = api.import_results(paths, fmt, out=out_dir, name=name, catalog=catalog, model=model,
                                          hardware=hardware, gpus=gpus, engine=engine, precision=precision, tp=tp,
                                          price_per_hour=price, **({"region": region} if region else {}))
    if as_json:
        sys.stdout.write(json.dumps({"study_dir": str(study_dir), "cells": [
            {"run_id": s.run_id, "data": s.labels.get("data"), "missing": s.missing} for s in cells]}, indent=2) + "\n")
        return
    for s in cells:
        price_txt = f"${s.cost_per_1m_tokens:.2f}/1M tok" if s.cost_per_1m_tokens is not None else "no cost (no price)"
        tput = "—" if "output_throughput_tok_s" in s.missing else f"{s.output_throughput_tok_s:.1f} tok/s"
        out.print(f"{s.run_id}: {s.labels.get('data')}, {s.requests} requests, {tput}, {price_txt}"
                  + (f"; not given: {', '.join(s.missing)}" if s.missing else ""), highlight=False, markup=False)
    err.print(f"imported {len(cells)} cell(s) from {len(paths)} file(s): {study_dir}", highlight=False, markup=False)


def export_cmd(
    path: Path = typer.Argument(..., help="a study folder (measured or imported)"),
    to: str = typer.Option("table", "--to", help="table (the format `import --from table` reads)"),
    out_file: Optional[Path] = typer.Option(None, "--out", help="file to write (.csv or .parquet; default "
                                            "<study>/export-table.csv)"),
    catalog: Optional[Path] = typer.Option(None, "--catalog", help="catalog YAML (GPU counts of hardware)"),
) -> None:
    """Write every cell of a study as one row of the table format."""
    target, n = api.export_table(path, out_file, to=to, catalog=catalog)
    err.print(f"wrote {n} row(s): {target}", highlight=False, markup=False)


def register(app: typer.Typer) -> None:
    app.command("import")(import_cmd)
    app.command("export")(export_cmd)
