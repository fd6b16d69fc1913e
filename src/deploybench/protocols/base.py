"""What a protocol client fills in for one request (the ``load`` layer owns the Protocol)."""

from __future__ import annotations

import json

from dataclasses import dataclass, field


@dataclass(slots=True)
class Prompt:
    id: str
    text: str
    approx_tokens: int = 0
    messages: list[dict] | None = None
    max_tokens: int | None = None  # this request's own output length (None: the workload's max_tokens)
    session: int | None = None  # multi-turn: the conversation this prompt belongs to (kept on one user)
    turn: int = 0  # multi-turn: 0-based turn within the session (turn t carries t earlier exchanges)
    think_s: float = 0.0  # multi-turn: the user's pause before sending this turn (0 for a session's first)


@dataclass(slots=True)
class Draft:
    """Mutable per-request scratchpad; ``load`` turns it into a RequestRecord."""

    started_ns: int = 0  # the POST began (0: not stamped); send_trace's hooks stamp these four
    connected_ns: int = 0  # a connection was ready (new: connected; pooled: taken from the pool)
    sent_ns: int = 0  # the request (headers and body) written to the socket
    headers_ns: int = 0  # the response head read
    done_ns: int = 0  # when the stream ended ([DONE] read); 0 = take the time the call returned
    chunk_ns: list[int] = field(default_factory=list)
    chunk_tokens: list[int] = field(default_factory=list)
    streamed_tokens: int = 0  # sum(chunk_tokens), kept as events arrive (O(1) per event)
    first_content_ns: int | None = None  # first chunk with answer text (chunks also carry reasoning, tool calls)
    input_tokens: int | None = None
    output_tokens: int | None = None
    token_source: str = "none"
    finish_reason: str | None = None
    http_status: int | None = None
    error: str | None = None
    text_parts: list[str] = field(default_factory=list)
    reused: bool = False  # sent on a pooled keep-alive connection (set by the session's send_trace hooks)
    retry_after_s: float | None = None  # the server's Retry-After (HTTP 429/503), in seconds


@dataclass(slots=True)
class GenParams:
    max_tokens: int = 50
    ignore_eos: bool = True
    temperature: float = 0.0
    stall_timeout_s: float | None = None  # a stream with no complete event for this long ends (timeout-stalled)


try:
    from orjson import loads as _fast_loads
except ImportError:  # pragma: no cover - orjson is a dependency; json alone still reads every event
    _fast_loads = None


def loads_event(data: str | bytes):
    """One streamed event's JSON. orjson where installed (a third of json's time, and this runs for every
    token of every stream), falling back to json for what orjson refuses and json reads (NaN, integers
    over 64 bits); ``json.JSONDecodeError`` when neither reads it."""
    if _fast_loads is not None:
        try:
            return _fast_loads(data)
        except ValueError:
            pass
    return json.loads(data)
