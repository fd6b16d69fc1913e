"""CSV and XLSX output: the per-cell table, the recommendations, and (XLSX) every request."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from .. import storage
from .context import ReportContext
from .picks import Recommendation
from .quality import csv_files as quality_csv
from .quality import xlsx_sheet
from .render.spreadsheet import safe_text
from .tables import CELL_COLUMNS, RECORD_COLUMNS, STUDY_COLUMNS, cell_rows

XLSX_MAX_ROWS = 1_048_576
NO_RECORDS = ("No per-request records: these runs hold summary figures only (e.g. imported 2023 data). "
              "Run `deploybench run` to measure requests.")


# --------------------------------------------------------------------------- rows


def pick_header() -> list[str]:
    return ["scenario", "group", "rule", *[c.key for c in STUDY_COLUMNS], "run_id", "runner_up", "margin", "tie"]


def pick_rows(recs: Sequence[Recommendation]) -> Iterator[list[Any]]:
    for rec in recs:
        for r in rec.rows:
            yield [rec.scenario, r.group, r.rule, *[c.get(r) for c in STUDY_COLUMNS], r.cell.run_id, r.runner_up,
                   r.margin, r.tie]


def record_rows(ctx: ReportContext) -> Iterator[list[Any]]:
    for cell in ctx.store.cells:
        for rec in cell.records:
            yield [get(cell, rec) for _, get in RECORD_COLUMNS]


# --------------------------------------------------------------------------- CSV


def write_csv(ctx: ReportContext, out: Path) -> list[Path]:
    cells_path, picks_path = out / "cells.csv", out / "recommendations.csv"
    _csv(cells_path, [c.key for c in CELL_COLUMNS], ([row[c.key] for c in CELL_COLUMNS] for row in cell_rows(ctx.store.cells)))
    _csv(picks_path, pick_header(), pick_rows(ctx.recommendations))

    return [cells_path, picks_path, *quality_csv(ctx, out)]


def _csv(path: Path, header: list[str], rows: Iterable[list[Any]]) -> None:
    with storage.replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for row in rows:
            w.writerow(["" if v is None else safe_text(v) for v in row])


# --------------------------------------------------------------------------- XLSX


def write_xlsx(ctx: ReportContext, out: Path) -> list[Path]:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    notes = [f"{rec.title}: {n}" for rec in ctx.recommendations for n in rec.notes]
    _sheet(wb, "About", ["item"], ([x] for x in [f"source: {ctx.store.root}", *ctx.facts(), *ctx.notes, *notes]))
    for rec in ctx.recommendations:
        rows = [[r.rule, *[c.get(r) for c in STUDY_COLUMNS], r.cell.run_id, r.runner_up, r.margin, r.tie]
                for r in rec.rows]
        _sheet(wb, rec.title, ["rule", *[c.title for c in STUDY_COLUMNS], "run", "runner-up",
                               "margin (relative)", "tie"], rows)

    _sheet(wb, "Quality", *xlsx_sheet(ctx))
    _sheet(wb, "All cells", [c.title for c in CELL_COLUMNS],
           ([row[c.key] for c in CELL_COLUMNS] for row in cell_rows(ctx.store.cells)))
    if ctx.store.has_records:
        _sheet(wb, "Requests", [k for k, _ in RECORD_COLUMNS], record_rows(ctx), limit=XLSX_MAX_ROWS - 1)
    else:
        _sheet(wb, "Requests", ["note"], [[NO_RECORDS]])
    path = out / "report.xlsx"
    with storage.replacing(path) as tmp:
        wb.save(tmp)
    return [path]


def _sheet(wb, title: str, header: list[str], rows: Iterable[list[Any]], limit: int | None = None) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    ws = wb.create_sheet(title=_sheet_title(title))
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    head = []
    for h in header:
        cell = WriteOnlyCell(ws, value=h)
        cell.font = bold
        head.append(cell)
    ws.append(head)
    for i, row in enumerate(rows):
        if limit is not None and i >= limit:
            ws.append([f"truncated: the sheet limit is {limit} rows; the full records are in each run's records.jsonl"])
            break
        ws.append([_xl_cell(ws, v) for v in row])


def _xl_cell(ws, v: Any):
    """Strings are always stored as text, never as a formula (openpyxl treats '=...' as one), and a text
    that starts like a formula gets a leading ``'`` as in CSV: it stays inert when copied or re-exported."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    if isinstance(v, str):
        cell = WriteOnlyCell(ws, value=safe_text(ILLEGAL_CHARACTERS_RE.sub("\uFFFD", v)))
        cell.data_type = "s"
        return cell
    return v


def _sheet_title(title: str) -> str:
    for ch in "[]:*?/\\":
        title = title.replace(ch, " ")
    return title[:31]
