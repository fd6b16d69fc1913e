"""Server-sent events over an aiohttp response, with arrival timestamps.

Reads whatever bytes have arrived (``iter_any``) and splits them into lines itself: one await per
network read instead of one per line, and every event in a read gets that read's arrival time.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator

import aiohttp


async def lines(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[int, bytes]]:
    """Yield ``(monotonic_ns, line)`` for each complete line as it arrives."""
    buf = b""
    async for data in resp.content.iter_any():
        now = time.monotonic_ns()
        buf += data
        if b"\n" not in data:
            continue
        *complete, buf = buf.split(b"\n")
        for line in complete:
            yield now, line
    if buf:
        yield time.monotonic_ns(), buf


async def events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[int, str]]:
    """Yield ``(monotonic_ns, data)`` for each ``data:`` line (``error:`` lines become JSON errors)."""
    async for now, raw in lines(resp):
        line = raw.strip()
        if not line or line.startswith(b":"):
            continue
        if line.startswith(b"data:"):
            yield now, line[5:].strip().decode("utf-8", errors="replace")
        elif line.startswith(b"error:"):
            yield now, json.dumps({"error": line[6:].strip().decode("utf-8", errors="replace")})


def send_trace() -> aiohttp.TraceConfig:
    """Stamp where a request's time to first token goes, on the :class:`~.base.Draft` it carries.

    Requests made with ``trace_request_ctx=draft`` get ``started_ns`` (the POST began),
    ``connected_ns`` (a connection was ready: a new one connected, or a pooled one taken, then
    ``draft.reused``), ``sent_ns`` (the request, headers and body, written to the socket) and
    ``headers_ns`` (the response head read). So client-side request preparation counts as schedule
    lag, not as server latency (TTFT, E2E); docs/metrics.md, "Where time to first token goes".
    """
    tc = aiohttp.TraceConfig()

    def stamp(field: str, reused: bool = False):
        async def hook(session, ctx, params) -> None:
            draft = ctx.trace_request_ctx
            if draft is not None and hasattr(draft, field):
                setattr(draft, field, time.monotonic_ns())
                if reused:
                    draft.reused = True
        return hook

    tc.on_request_start.append(stamp("started_ns"))
    tc.on_connection_create_end.append(stamp("connected_ns"))
    tc.on_connection_reuseconn.append(stamp("connected_ns", reused=True))
    tc.on_request_headers_sent.append(stamp("sent_ns"))
    tc.on_request_chunk_sent.append(stamp("sent_ns"))
    tc.on_request_end.append(stamp("headers_ns"))
    return tc


@contextlib.asynccontextmanager
async def timed_post(session: aiohttp.ClientSession, url: str, draft, *, data, headers: dict):
    """POST under the timing contract every protocol shares (docs/metrics.md).

    ``sent_ns``: the request (headers and body) written to the socket, by the session's
    :func:`send_trace` hooks (a session without them: the moment before the POST; the other
    stamps of the TTFT split stay 0). ``http_status``
    and ``retry_after_s`` come from the response head. The protocol stamps ``done_ns`` itself, with
    the arrival time of its end-of-stream event (``[DONE]``, TGI's final token event).
    """
    draft.sent_ns = time.monotonic_ns()
    async with session.post(url, data=data, headers=headers, trace_request_ctx=draft) as resp:
        draft.http_status = resp.status
        draft.retry_after_s = retry_after(resp.headers.get("Retry-After"))
        yield resp


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the delta-seconds form; an HTTP date or junk gives None)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
