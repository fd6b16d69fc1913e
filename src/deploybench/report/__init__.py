"""Reports: re-render stored runs as Markdown, CSV, XLSX, JSON and a self-contained HTML page;
compare two runs or studies.

    from deploybench.report import build_report, compare
    build_report("runs/my-study")                 # -> runs/my-study/report/{report.md, ...}
    compare("runs/before", "runs/after")          # cell-by-cell changes with bootstrap CIs
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .. import storage
from ..metrics import Constraint
from ..schemas import ConfigError
from .compare import Comparison, compare
from .context import BASES, ReportContext, build_context
from .data import Cell, Store, load_store
from . import markdown, spreadsheet
from .quality import json_block

__all__ = ["BASES", "FORMATS", "Cell", "Comparison", "ReportContext", "Store", "build_context", "build_report",
           "compare", "load_store", "parse_formats", "report_json"]

FORMATS = ("md", "csv", "xlsx", "html", "json")
_ALIASES = {"markdown": "md", "excel": "xlsx", "htm": "html"}


def parse_formats(text: str | Iterable[str] | None) -> list[str]:
    """``"md,html"`` -> ``["md", "html"]``; None or ``"all"`` -> every format."""
    if text is None:
        return list(FORMATS)
    parts = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for p in (x.strip().lower() for x in parts):
        if not p:
            continue
        if p == "all":
            return list(FORMATS)
        p = _ALIASES.get(p, p)
        if p not in FORMATS:
            raise ConfigError(f"--format: unknown format '{p}'", f"use some of: {','.join(FORMATS)}")
        if p not in out:
            out.append(p)
    if not out:
        raise ConfigError("--format: no format given", f"use some of: {','.join(FORMATS)}")
    return out


def _plain(obj: Any) -> Any:
    if hasattr(obj, "model_dump"):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


def report_json(ctx: ReportContext) -> dict[str, Any]:
    """Summaries, picks (as recommend() returned them, plus the rule and run) and the Pareto front."""
    return {
        "source": str(ctx.store.root), "generated_at": ctx.generated_at, "basis": ctx.basis,
        "slo": [str(c) for c in ctx.slo], "notes": ctx.notes,
        "summaries": [c.summary.model_dump(mode="json") for c in ctx.store.cells],
        "picks": {rec.scenario: [{"group": r.group, "run_id": r.cell.run_id, "deployment": r.cell.deployment,
                                  "concurrency": r.cell.concurrency, "rule": r.rule, "runner_up": r.runner_up,
                                  "margin": r.margin, "tie": r.tie, "pick": _plain(r.pick)} for r in rec.rows]
                  for rec in ctx.recommendations},
        "quality": _quality_json(ctx),
        "pareto": [{"group": p.group, "run_id": p.cell.run_id, "cost_per_1m_tokens": p.cost, "latency": p.latency,
                    "latency_metric": p.latency_metric} for p in ctx.pareto],
    }


def _quality_json(ctx: ReportContext) -> dict[str, Any]:
    return json_block(ctx)


def _write_json(ctx: ReportContext, out: Path) -> list[Path]:
    path = out / "report.json"
    storage.atomic_write(path, json.dumps(report_json(ctx), indent=2, default=str) + "\n")
    return [path]


def _write_md(ctx: ReportContext, out: Path) -> list[Path]:
    path = out / "report.md"
    storage.atomic_write(path, markdown.render(ctx))
    return [path]


def build_report(path: Path | str, formats: str | Sequence[str] | None = None, out: Path | str | None = None,
                 slo: Sequence[Constraint] | None = None, basis: str = "deploybench") -> list[Path]:
    """Write the report files for the runs under ``path``; default folder ``path/report``."""
    from . import html  # html loads plotly: only when a report is written

    fmts = parse_formats(formats)
    ctx = build_context(path, slo, basis)
    dest = Path(out) if out is not None else ctx.store.root / "report"
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"--out: {dest} is a file", "give a folder for the report files")
    dest.mkdir(parents=True, exist_ok=True)
    writers = {"md": _write_md, "csv": spreadsheet.write_csv, "xlsx": spreadsheet.write_xlsx,
               "html": html.write_html, "json": _write_json}
    written: list[Path] = []
    for f in fmts:
        written += writers[f](ctx, dest)
    return written
