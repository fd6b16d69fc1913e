"""Server-sent events over an aiohttp response, with arrival timestamps.

Reads whatever bytes have arrived (``iter_any``) and splits them into lines itself: one await per
network read instead of one per line, and every event in a read gets that read's arrival time.
"""

from __future__ import annotations

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
    """Stamp ``draft.sent_ns`` when the request body has been written to the socket.

    Requests made with ``trace_request_ctx=draft`` get the moment the request went onto the wire,
    so client-side request preparation counts as schedule lag, not as server latency (TTFT, E2E).
    """
    tc = aiohttp.TraceConfig()

    async def _sent(session, ctx, params) -> None:
        draft = getattr(ctx, "trace_request_ctx", None)
        if draft is not None and hasattr(draft, "sent_ns"):
            draft.sent_ns = time.monotonic_ns()

    tc.on_request_headers_sent.append(_sent)
    tc.on_request_chunk_sent.append(_sent)
    return tc
