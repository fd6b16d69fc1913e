"""The table format for published results (``--from table``, ``export --to table``): CSV or Parquet, one row per cell.

Columns, units in their names (docs/import.md has the full list): required ``model``, ``hardware``,
``gpus``, ``engine``, ``precision``, ``tp``, ``input_tokens``, ``output_tokens`` and at least one of
``concurrency`` / ``rate_rps``; optional figures (``ttft_p50_ms``, ``output_tok_s``, ...), means where
a source gives no percentile (``ttft_mean_ms``, ``tpot_mean_ms``), and provenance (``source``,
``date``). Unknown columns are kept with the cell (``external.table_columns``). A bad row is one line:
file, row (1 = the first row under the header), column, the fix.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Any

from ..schemas import Dist
from .cell import ImportedCell, ToolWindow, bad, closed, rate, read_text

TOOL = "table"
REQUIRED = ("model", "hardware", "gpus", "engine", "precision", "tp", "input_tokens", "output_tokens")
LEVEL = ("concurrency", "rate_rps")
WHOLE = {"gpus": 0, "tp": 1, "pp": 1, "input_tokens": 0, "output_tokens": 1, "concurrency": 1, "requests": 0,
         "errors": 0}
TEXT = ("deployment", "model", "hardware", "engine", "precision", "engine_version", "source", "date", "arrival")
DISTS = {  # column stem -> RunSummary field
    "ttft": "ttft_ms", "tpot": "tpot_ms", "itl": "itl_ms", "e2e": "e2e_ms", "ms_per_token": "ms_per_token"}
STATS = ("mean", "p50", "p90", "p95", "p99")
DIST_COLUMNS = tuple(f"{stem}_{stat}_ms" for stem in DISTS for stat in STATS)
RATES = ("output_tok_s", "request_rps", "rate_rps", "price_per_hour")
KNOWN = (*TEXT, *WHOLE, *DIST_COLUMNS, *RATES)
FLOOR_MS = {"ttft": 1.0, "e2e": 1.0, "ms_per_token": 0.2, "tpot": 0.2, "itl": 0.05}
"""Plausibility: a latency below this many ms is no LLM server's; the column was most likely written in seconds."""
FIX = "write one row per cell with the columns in docs/import.md (CSV with a header row, or Parquet)"


def read(path: Path) -> list[ImportedCell]:
    rows = _rows(path)
    header = list(rows[0]) if rows else []
    for col in REQUIRED:
        if col not in header:
            raise bad(path, f"column '{col}'", "is missing (required)",
                      f"add a '{col}' column; required: {', '.join(REQUIRED)} and concurrency or rate_rps")
    if not any(c in header for c in LEVEL):
        raise bad(path, "column 'concurrency'", "is missing, and so is 'rate_rps' (one is required)",
                  "add 'concurrency' (closed-loop users) or 'rate_rps' (open-loop requests/s)")
    return _shapes([_cell(path, i, row) for i, row in enumerate(rows, 1)])


def _shapes(cells: list[ImportedCell]) -> list[ImportedCell]:
    """Rows of one deployment at one load level with different (input, output) token shapes are
    workloads of their own: the rows whose shape is not the deployment's most common one get it in
    their deployment name (``…_in3200-out6400``) instead of colliding. Rows that do not collide keep
    the plain name (a study's measured mean lengths differ a little from row to row)."""
    def shape(c: ImportedCell) -> tuple:
        return c.figures["input_tokens_per_request"], c.figures["output_tokens_per_request"]

    deployments: dict[tuple, list[ImportedCell]] = {}
    for c in cells:
        deployments.setdefault(tuple(sorted((k, str(v)) for k, v in c.facts.items())), []).append(c)
    for group in deployments.values():
        at: dict[str, list[ImportedCell]] = {}
        for c in group:
            at.setdefault(c.level.key, []).append(c)
        counts: dict[tuple, int] = {}
        for c in group:
            counts[shape(c)] = counts.get(shape(c), 0) + 1
        common = max(counts, key=lambda k: (counts[k], k))
        for same_level in at.values():
            for c in same_level if len(same_level) > 1 else ():
                if shape(c) != common:
                    c.facts["shape"] = "in{:g}-out{:g}".format(*shape(c))
    return cells


def _rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet as pq

        if not path.is_file():
            raise bad(path, "", "does not exist", "give the path of the table")
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise bad(path, "", f"is not a readable Parquet file ({type(exc).__name__})", FIX) from None
        rows = table.to_pylist()
    else:
        text = read_text(path, FIX)
        rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise bad(path, "", "has a header but no rows", FIX)
    return rows


def _empty(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and math.isnan(v))


def _value(path: Path, n: int, col: str, v: Any) -> Any:
    """One cell of the table, parsed and checked (None when empty)."""
    if _empty(v):
        if col in REQUIRED:
            raise bad(path, f"row {n}, column '{col}'", "is empty (required)", f"give the row's {col}")
        return None
    if col in TEXT:
        return str(v).strip()
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise bad(path, f"row {n}, column '{col}'", f"{v!r} is not a number", "write a plain number, e.g. 12.5") from None
    if col in WHOLE:
        if not math.isfinite(x) or x != int(x) or x < WHOLE[col]:
            raise bad(path, f"row {n}, column '{col}'", f"{v!r} is not a whole number >= {WHOLE[col]}",
                      f"write the {col} as a whole number")
        return int(x)
    if not math.isfinite(x) or x < 0 or (x == 0 and col in ("rate_rps", "output_tok_s")):
        raise bad(path, f"row {n}, column '{col}'", f"{v!r} is not a positive number", "write a number > 0")
    return x


def _plausible(path: Path, n: int, vals: dict[str, Any]) -> None:
    for col in DIST_COLUMNS:
        v = vals.get(col)
        stem = col.rsplit("_", 2)[0]
        if v is not None and v < FLOOR_MS[stem]:
            raise bad(path, f"row {n}, column '{col}'", f"{v:g} ms is implausibly small (below {FLOOR_MS[stem]:g} ms): "
                      "the column looks like seconds", f"write milliseconds (x 1000: {v * 1000:g})")
    for stat in STATS:
        ttft, e2e = vals.get(f"ttft_{stat}_ms"), vals.get(f"e2e_{stat}_ms")
        if ttft is not None and e2e is not None and e2e < ttft:
            raise bad(path, f"row {n}, column 'e2e_{stat}_ms'", f"{e2e:g} ms is below ttft_{stat}_ms {ttft:g} ms",
                      "write both in milliseconds (E2E includes TTFT)")


def _dists(vals: dict[str, Any]) -> tuple[dict[str, Dist], dict[str, str], list[str]]:
    out, which, missing = {}, {}, []
    n = vals.get("requests") or 0
    for stem, field in DISTS.items():
        stats = {s: vals[f"{stem}_{s}_ms"] for s in STATS if vals.get(f"{stem}_{s}_ms") is not None}
        if stats:
            out[field] = Dist(n=n, **stats)
            if "p50" not in stats and "mean" in stats:
                which[field] = "mean"
        else:
            missing.append(field)
    return out, which, missing


def _cell(path: Path, n: int, row: dict[str, Any]) -> ImportedCell:
    vals = {c: _value(path, n, c, row.get(c)) for c in KNOWN if c in row or c in REQUIRED}
    if vals.get("concurrency") is None and vals.get("rate_rps") is None:
        raise bad(path, f"row {n}, column 'concurrency'", "is empty, and so is 'rate_rps'",
                  "give the row's closed-loop users or its open-loop requests/s")
    _plausible(path, n, vals)
    level = (closed(vals["concurrency"]) if vals.get("concurrency") is not None
             else rate(vals["rate_rps"], vals.get("arrival") or "poisson"))
    dists, means, missing = _dists(vals)
    requests, errors = vals.get("requests"), vals.get("errors") or 0
    figures: dict[str, Any] = {**dists, "requests": requests or 0, "completed": max(0, (requests or 0) - errors),
                               "errors": errors, "input_tokens_per_request": vals["input_tokens"],
                               "output_tokens_per_request": vals["output_tokens"]}
    if requests is None:
        missing.append("requests")
    if vals.get("output_tok_s") is None:
        missing.append("output_throughput_tok_s")
    if vals.get("request_rps") is None:
        missing.append("request_throughput_rps")
    facts = {k: vals.get(k) for k in ("deployment", "model", "hardware", "gpus", "engine", "precision", "tp", "pp",
                                      "price_per_hour")}
    unknown = {k: v for k, v in row.items() if k not in KNOWN and not _empty(v)}
    labels = {k: str(vals[k]) for k in ("engine_version", "date") if vals.get(k) is not None}
    labels.update({f"{stem}_stat": "mean" for stem, field in DISTS.items() if field in means})
    return ImportedCell(
        tool=TOOL, source=path, level=level, row=n, facts=facts, figures=figures, missing=missing + ["schedule_lag_ms"],
        tool_window=ToolWindow(window_s=None, output_tokens=None, output_tok_s=vals.get("output_tok_s"),
                               request_rps=vals.get("request_rps"), basis="the table's output_tok_s / request_rps"),
        external={"table_source": vals.get("source"), "table_columns": unknown, "means_for": sorted(means)},
        definitions="as the table's source defined them (its 'source' column); deploybench cannot check them",
        labels=labels)


# --------------------------------------------------------------------------- export

EXPORT_COLUMNS = ("deployment", *REQUIRED, "pp", "engine_version", "concurrency", "rate_rps", "arrival", *DIST_COLUMNS,
                  "output_tok_s", "request_rps", "requests", "errors", "price_per_hour", "source", "date")


def write_csv(rows: list[dict[str, Any]], out) -> None:
    w = csv.DictWriter(out, fieldnames=list(EXPORT_COLUMNS), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r[k]) for k in EXPORT_COLUMNS})
