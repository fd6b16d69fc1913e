"""``deploybench report`` and ``deploybench compare``: re-render and compare stored runs (no re-run)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import api
from ..schemas import ConfigError, DeploybenchError

out = Console()
err = Console(stderr=True, soft_wrap=True)


def report(
    path: Path = typer.Argument(..., help="a study folder, a single run folder, or imported 2023 data"),
    formats: str = typer.Option("md,csv,xlsx,html,json", "--format", "-f",
                                help="comma-separated: md, csv, xlsx, html, json (or all)"),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="where to write (default: PATH/report)"),
    slo: Optional[str] = typer.Option(None, "--slo", help='only recommend cells meeting e.g. "p90_ttft_ms<=500"'),
    basis: str = typer.Option("deploybench", "--basis",
                              help="deploybench (measured figures) or study (the 2023 study's own figures, "
                                   "for imported data)"),
) -> None:
    """Write the report: recommendations, every cell, per-request data, and an offline HTML page with charts."""
    written = api.write_report(path, formats, out_dir, slo=slo, basis=basis)
    for p in written:
        out.print(str(p), highlight=False, soft_wrap=True)
    html = next((p for p in written if p.suffix == ".html"), None)
    if html:
        err.print(f"open {html} in a browser (works offline)", highlight=False)


def write_after_run(study_dir: Path, as_json: bool) -> Path | None:
    """The report of what a run measured (as `deploybench report DIR` writes it); prints the HTML's path
    last (on stderr with --json, so stdout stays JSON). A report that cannot be written costs one line."""
    if not api.stored_runs(study_dir):
        err.print("report: not written: nothing was measured", highlight=False, markup=False)
        return None
    try:
        written = api.write_report(study_dir)
    except DeploybenchError as exc:
        err.print(f"report: not written: {exc.line()}", highlight=False, markup=False)
        return None
    except Exception as exc:  # a report bug must not hide what the run measured
        err.print(f"report: not written: internal error {type(exc).__name__}: {str(exc)[:200]} — "
                  f"retry with `deploybench report {study_dir}`", highlight=False, markup=False)
        return None
    html = next((p for p in written if p.suffix == ".html"), written[0] if written else None)
    (err if as_json else out).print(f"report: {html}",
                                    highlight=False, markup=False, soft_wrap=True)
    return html


def compare(
    a: Path = typer.Argument(..., help="the baseline: a run or study folder"),
    b: Path = typer.Argument(..., help="the candidate: a run or study folder"),
    as_json: bool = typer.Option(False, "--json", help="print the comparison as JSON"),
    confidence: float = typer.Option(0.95, "--confidence", help="confidence level of the between-trial interval"),
) -> None:
    """Compare two runs or studies cell by cell; each change is judged against run-to-run noise."""
    result = api.compare(a, b, confidence=confidence)
    if not result.cells:
        raise ConfigError(f"no common cells between {a} and {b} (matched by {result.matched_by})",
                          "compare runs of the same deployments and concurrency levels")
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
        return
    for cell in result.cells:
        out.print(compare_table(cell, result.confidence))
    for side, keys in (("A", result.only_a), ("B", result.only_b)):
        if keys:
            err.print(f"only in {side}: {', '.join(keys)}", highlight=False, markup=False)


def _num(v: float | None, fmt: str = "{:.2f}") -> str:
    return "—" if v is None else fmt.format(v)


def compare_table(cell, confidence: float) -> Table:
    pct = f"{confidence * 100:g}%"
    dep = cell.deployment_a if cell.deployment_a == cell.deployment_b else f"{cell.deployment_a} → {cell.deployment_b}"
    t = Table(title=Text(f"{dep} @ c={cell.concurrency}  (A {cell.run_a}, n={cell.n_a}, rounds {cell.trials_a}; "
                         f"B {cell.run_b}, n={cell.n_b}, rounds {cell.trials_b})"))
    for c in ("metric", "A", "B", "change", "change %", "range of change", "verdict"):
        t.add_column(c, justify="left" if c in ("metric", "verdict") else "right")
    for ch in cell.changes:
        ci = (f"[{_num(ch.ci_low, '{:+.2f}')}, {_num(ch.ci_high, '{:+.2f}')}]" if ch.ci_low is not None
              else "—")
        verdict = ch.verdict or ("missing" if ch.note == "missing on one side" else "")
        t.add_row(*(Text(x) for x in (ch.title, _num(ch.a), _num(ch.b), _num(ch.change, "{:+.2f}"),
                                      _num(ch.change_pct, "{:+.1f}%"), ci, verdict)))
    t.caption = (f"change = B − A, judged by {cell.method}. better/worse: beyond noise; rows without a "
                 "verdict are shown plainly.")
    return t


def register(app: typer.Typer) -> None:
    app.command(name="report")(report)
    app.command(name="compare")(compare)
