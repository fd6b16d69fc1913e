"""One cell read from another tool's file, before it is stored, and the helpers every reader shares.

A reader turns a file into :class:`ImportedCell` objects and raises a one-line
:class:`~deploybench.schemas.ConfigError` (file, place, problem, fix) on anything it cannot read;
nothing is written until every file of an import has been read (:mod:`deploybench.ingest.store`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..schemas import ClosedLevel, ConfigError, Dist, RateLevel, RequestRecord

NS = 1_000_000_000


@dataclass
class ToolWindow:
    """The measurement window's figures as the tool's own summary gives them, used where the records
    cannot place every request on one timeline (relative times, or a sampled subset of the requests)."""

    window_s: float | None
    output_tokens: int | None
    output_tok_s: float | None
    request_rps: float | None
    basis: str  # how the tool computed them, in words (stored with the cell, printed by reports)


@dataclass
class ImportedCell:
    """A deployment x load level from a file: per-request records, or the tool's summary figures only."""

    tool: str
    source: Path
    level: ClosedLevel | RateLevel
    tool_version: str | None = None
    facts: dict[str, Any] = field(default_factory=dict)  # what the file says of the deployment (model, ...)
    records: list[RequestRecord] | None = None
    relative_time: bool = False
    window_ns: tuple[int, int] | None = None  # the tool's measurement window on the records' clock
    tool_window: ToolWindow | None = None
    figures: dict[str, Any] = field(default_factory=dict)  # summary-only: RunSummary fields (Dist, counts)
    missing: list[str] = field(default_factory=list)  # figures the tool does not give: null, listed
    external: dict[str, Any] = field(default_factory=dict)  # the tool's own figures, under its own names
    definitions: str = ""  # where the tool's definitions differ from deploybench's (docs/import.md)
    row: int | None = None  # table imports: the row the cell came from
    labels: dict[str, str] = field(default_factory=dict)  # extra labels (table: engine_version, ...)

    @property
    def per_request(self) -> bool:
        return self.records is not None


def bad(path: Path, where: str, problem: str, fix: str) -> ConfigError:
    """The one-line error of a file that cannot be imported: ``<file>: <where>: <problem>``; fix."""
    place = f"{path}: {where}: " if where else f"{path}: "
    return ConfigError(place + problem, fix)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_text(path: Path, fix: str) -> str:
    """A file's text; an unreadable or empty file is one line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise bad(path, "", "does not exist", "give the path of a file the tool wrote") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise bad(path, "", f"cannot be read ({exc.__class__.__name__})", fix) from None
    if not text.strip():
        raise bad(path, "", "is empty", fix)
    return text


def read_json(path: Path, fix: str) -> Any:
    """A whole JSON document; a truncated or invalid one is one line naming where it broke."""
    text = read_text(path, fix)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        what = "ends early (truncated?)" if cut else f"is not valid JSON ({exc.msg})"
        raise bad(path, f"line {exc.lineno} column {exc.colno}", what, fix) from None


def number(path: Path, where: str, value: Any, fix: str, *, minimum: float = 0.0, whole: bool = False,
           optional: bool = False) -> float | int | None:
    """A finite number >= ``minimum`` (a whole one with ``whole``); None only when ``optional``."""
    if value is None and optional:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value >= minimum
    if ok and whole and not isinstance(value, int) and float(value) != int(value):
        ok = False
    if not ok:
        kind = "a whole number" if whole else "a number"
        raise bad(path, where, f"{value!r} is not {kind} >= {minimum:g}", fix)
    return int(value) if whole else float(value)


def spread(chunks: int, tokens: int) -> list[int]:
    """Tokens per streamed chunk when a tool gives the chunk times and the request's token count but not
    each chunk's tokens: one token in the first chunk, the rest spread as evenly as whole numbers allow
    (larger shares first). No token count: one token each."""
    if chunks <= 0:
        return []
    if tokens < chunks:
        return [1] * chunks
    if chunks == 1:
        return [tokens]
    q, r = divmod(tokens - 1, chunks - 1)
    return [1] + [q + (1 if i < r else 0) for i in range(chunks - 1)]


def record(index: int, sent_ns: int, chunk_ns: list[int], tokens: int | None, done_ns: int, *,
           input_tokens: int | None = None, error: str | None = None, warmup: bool = False,
           relative: bool = False, prompt_id: str = "") -> RequestRecord:
    """One imported request: chunk token counts from :func:`spread`; schedule lag unknown (scheduled = sent).
    More chunk times than tokens: the trailing ones are the stream's end events (vLLM times its final chunk,
    empty text with the finish reason, like a token) and are dropped."""
    if tokens and error is None and len(chunk_ns) > tokens:
        chunk_ns = chunk_ns[:tokens]
    return RequestRecord(index=index, prompt_id=prompt_id, warmup=warmup, scheduled_ns=sent_ns, started_ns=sent_ns, sent_ns=sent_ns,
                         chunk_ns=chunk_ns, chunk_tokens=spread(len(chunk_ns), tokens or 0) if chunk_ns else [],
                         done_ns=max(done_ns, chunk_ns[-1] if chunk_ns else sent_ns),
                         input_tokens=input_tokens, output_tokens=tokens if error is None else None,
                         token_source="none", error=error, relative_time=relative)


def error_text(text: Any) -> str:
    """A tool's error message as a record's error: its last non-empty line (a traceback's exception), at
    most 200 characters."""
    line = str(text).strip().splitlines()[-1] if str(text).strip() else "error"
    return line[:200]


def dist_from(stats: dict[str, float | None], n: int) -> Dist:
    """A :class:`Dist` from the statistics a tool published (any of mean, p50, p90, p95, p99, min, max)."""
    keep = {k: float(v) for k, v in stats.items() if v is not None}
    return Dist(n=n if keep else 0, **keep)


def closed(users: int) -> ClosedLevel:
    return ClosedLevel(users=users)


def rate(rps: float, arrival: str = "poisson", cv: float = 1.0) -> RateLevel:
    return RateLevel(rps=rps, arrival=arrival, cv=cv)  # type: ignore[arg-type]
