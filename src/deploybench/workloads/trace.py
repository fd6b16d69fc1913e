"""Request traces: arrival times and per-request input/output lengths, for trace replay.

Native format: JSONL, one object per request, ``{"timestamp": <s>, "input_tokens": <n>,
"output_tokens": <n>}``. Built-in shapes read the public traces as published:

========== ====== ============================== ================= ==================
shape      format timestamp                      input tokens      output tokens
========== ====== ============================== ================= ==================
native     JSONL  ``timestamp`` (s)              ``input_tokens``  ``output_tokens``
burstgpt   CSV    ``Timestamp`` (s)              ``Request tokens`` ``Response tokens``
azure      CSV    ``TIMESTAMP`` (datetime text)  ``ContextTokens`` ``GeneratedTokens``
mooncake   JSONL  ``timestamp`` (ms)             ``input_length``  ``output_length``
========== ====== ============================== ================= ==================

Without ``shape`` the header (CSV) or first object (JSONL) picks the built-in shape whose columns it
has, else native (``jsonl`` is an alias of native). ``columns`` maps ``timestamp`` /
``input_tokens`` / ``output_tokens`` to other column names. Arrival times are relative to the
first row; rows must be in time order (ties allowed).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..protocols.base import Prompt
from ..schemas import ConfigError
from .text import corpus_text, corpus_words

__all__ = ["SHAPES", "TraceRow", "read_trace", "trace_prompts"]


@dataclass(frozen=True, slots=True)
class TraceRow:
    arrival_s: float  # seconds after the first row's arrival
    input_tokens: int
    output_tokens: int


@dataclass(frozen=True)
class Shape:
    format: str  # "jsonl" or "csv"
    timestamp: str
    input_tokens: str
    output_tokens: str
    unit_s: float = 1.0  # seconds per numeric timestamp unit (datetime text is always read as such)


SHAPES = {
    "native": Shape("jsonl", "timestamp", "input_tokens", "output_tokens"),
    "burstgpt": Shape("csv", "Timestamp", "Request tokens", "Response tokens"),
    "azure": Shape("csv", "TIMESTAMP", "ContextTokens", "GeneratedTokens"),
    "mooncake": Shape("jsonl", "timestamp", "input_length", "output_length", unit_s=0.001),
}
SHAPES["jsonl"] = SHAPES["native"]
_FIELDS = ("timestamp", "input_tokens", "output_tokens")
_FIX_COLUMNS = "set the trace's shape (native, burstgpt, azure, mooncake) or map the column with columns: {%s: <name>}"


def read_trace(path: Path, columns: dict[str, str] | None = None, shape: str | None = None) -> list[TraceRow]:
    """Every row of a trace file, arrival times relative to the first row (which arrives at 0.0)."""
    path = Path(path)
    sh = _shape(path, columns, shape)
    if not path.is_file():
        raise ConfigError(f"trace: file not found: {path}", "give a trace file (JSONL or CSV)")
    rows: list[TraceRow] = []
    first_ns = prev_ns = None
    for where, rec in _records(path, sh.format):
        ns = _stamp_ns(rec, sh, where)
        if prev_ns is not None and ns < prev_ns:
            raise ConfigError(f"{where}: column '{sh.timestamp}': {_show(rec, sh.timestamp)} is earlier than "
                              "the row before (rows not in time order)", f"sort the file by '{sh.timestamp}'")
        first_ns = ns if first_ns is None else first_ns
        prev_ns = ns
        rows.append(TraceRow((ns - first_ns) / 1e9, _length(rec, sh.input_tokens, "input_tokens", where),
                             _length(rec, sh.output_tokens, "output_tokens", where)))
    if not rows:
        raise ConfigError(f"{path}: empty trace (no requests)", "give at least one row")
    return rows


def _shape(path: Path, columns: dict[str, str] | None, shape: str | None) -> Shape:
    if shape is not None and shape not in SHAPES:
        raise ConfigError(f"{path}: unknown trace shape {shape!r}", "use native, burstgpt, azure or mooncake")
    shape = shape or _detect(path)
    base = SHAPES[shape or "native"]
    fmt = base.format if shape else ("csv" if path.suffix.lower() == ".csv" else "jsonl")
    names = {f: getattr(base, f) for f in _FIELDS}
    for key, name in (columns or {}).items():
        if key not in _FIELDS:
            raise ConfigError(f"{path}: columns: unknown key {key!r}", "map timestamp, input_tokens or output_tokens")
        names[key] = str(name)
    return Shape(fmt, names["timestamp"], names["input_tokens"], names["output_tokens"], base.unit_s)


def _detect(path: Path) -> str | None:
    """The built-in shape whose columns the file's header (CSV) or first object (JSONL) has; None: native."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            first = next((line for line in f if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return None
    if first.lstrip().startswith("{"):
        try:
            keys = set(json.loads(first))
        except (json.JSONDecodeError, TypeError):
            return None
    else:
        keys = set(next(csv.reader([first]), []))
    for name in ("burstgpt", "azure", "mooncake"):
        sh = SHAPES[name]
        if {sh.timestamp, sh.input_tokens, sh.output_tokens} <= keys:
            return name
    return None


def _records(path: Path, fmt: str) -> Iterator[tuple[str, dict]]:
    """(``file:line``, row as a dict) for each row; JSONL line by line, CSV with the csv module."""
    with open(path, encoding="utf-8", newline="") as f:
        if fmt == "csv":
            reader = csv.DictReader(f)
            for rec in reader:
                yield f"{path}:{reader.line_num}", rec
            return
        for where, rec in jsonl_values(f, path):
            if not isinstance(rec, dict):
                raise ConfigError(f"{where}: expected a JSON object", 'write {"timestamp": ..., ...} per line')
            yield where, rec


def jsonl_values(lines: Iterable[str], path: Path) -> Iterator[tuple[str, Any]]:
    """(``file:line``, parsed value) for each non-blank line of a JSONL file; a bad line is one ConfigError."""
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{n}: not valid JSON ({exc.msg})", "one JSON object per line") from None
        yield f"{path}:{n}", value


def _missing(rec: dict, col: str) -> bool:
    return rec.get(col) is None or (isinstance(rec[col], str) and not rec[col].strip())


def _show(rec: dict, col: str) -> str:
    return repr(rec.get(col))[:40]


def _stamp_ns(rec: dict, sh: Shape, where: str) -> int:
    """A row's timestamp in integer nanoseconds (numbers x the shape's unit, or datetime text)."""
    col = sh.timestamp
    if _missing(rec, col):
        raise ConfigError(f"{where}: column '{col}' missing", _FIX_COLUMNS % "timestamp")
    value = rec[col]
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is not None and not isinstance(value, bool):
        if not np.isfinite(number) or number < 0:
            raise ConfigError(f"{where}: column '{col}': negative or non-finite timestamp {_show(rec, col)}",
                              "give times >= 0 (seconds, or ms for the mooncake shape)")
        return round(number * sh.unit_s * 1e9)
    ns = _datetime_ns(str(value))
    if ns is None:
        raise ConfigError(f"{where}: column '{col}': not a time: {_show(rec, col)}",
                          "give seconds as a number or a date-time like 2023-11-16 18:15:46.68")
    return ns


_FRACTION = re.compile(r"\.(\d+)")


def _datetime_ns(text: str) -> int | None:
    """Datetime text (any number of fraction digits, e.g. Azure's 100 ns ticks) as epoch nanoseconds; UTC if naive."""
    m = _FRACTION.search(text)
    digits = m.group(1) if m else ""
    whole = text[:m.start()] + text[m.end():] if m else text
    try:
        dt = datetime.fromisoformat(whole.strip())
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp()) * 1_000_000_000 + int((digits + "0" * 9)[:9])


def _length(rec: dict, col: str, field: str, where: str) -> int:
    if _missing(rec, col):
        raise ConfigError(f"{where}: column '{col}' missing (the request's {field.replace('_', ' ')})",
                          _FIX_COLUMNS % field)
    value = rec[col]
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or not np.isfinite(number) or number < 0 or number != int(number):
        raise ConfigError(f"{where}: column '{col}': not a token count: {_show(rec, col)}",
                          "give a whole number >= 0")
    return int(number)


def trace_prompts(rows: list[TraceRow], seed: int = 0) -> list[Prompt]:
    """One prompt per row: ~``input_tokens`` tokens of corpus text and ``max_tokens = output_tokens``.

    Each text starts with a unique head (``#<row>:``) so server prompt caches cannot flatter TTFT.
    A row with 0 output tokens (BurstGPT logs failed requests so) asks for 1 token.
    """
    words = corpus_words()
    rng = np.random.default_rng(seed)
    return [Prompt(id=f"trace-{i}", text=corpus_text(words, rng, max(1, r.input_tokens), head=f"#{i}:"),
                   approx_tokens=r.input_tokens, max_tokens=max(1, r.output_tokens))
            for i, r in enumerate(rows)]
