"""Server-sent events over an aiohttp response, with arrival timestamps.

Reads whatever bytes have arrived (``iter_any``) and splits them into lines itself: one await per
network read instead of one per line, and every event in a read gets that read's arrival time.
Also the session every load maker uses (:func:`new_session`) and the timing hooks on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import aiohttp


async def events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[int, str]]:
    """Yield ``(monotonic_ns, data)`` for each ``data:`` line (``error:`` lines become JSON errors).

    One generator, one await per network read: every event in a read gets that read's arrival time.
    """
    buf = b""
    async for data in resp.content.iter_any():
        now = time.monotonic_ns()
        if b"\n" not in data:
            buf += data
            continue
        *complete, buf = (buf + data).split(b"\n") if buf else data.split(b"\n")
        for raw in complete:
            if raw[:5] == b"data:":  # the common line, without a call
                yield now, raw[5:].strip().decode("utf-8", errors="replace")
            elif raw and raw != b"\r" and (event := _event(raw)) is not None:
                yield now, event
    if buf and (event := _event(buf)) is not None:
        yield time.monotonic_ns(), event


def _event(raw: bytes) -> str | None:
    """The payload of one SSE line: ``data:`` lines as text, ``error:`` lines as a JSON error, else None."""
    if raw.startswith(b"data:"):
        return raw[5:].strip().decode("utf-8", errors="replace")
    line = raw.strip()
    if line.startswith(b"data:"):
        return line[5:].strip().decode("utf-8", errors="replace")
    if line.startswith(b"error:"):
        return json.dumps({"error": line[6:].strip().decode("utf-8", errors="replace")})
    return None


READ_BUFSIZE = 1 << 18  # per-response read buffer: a long stream's bytes queue up without pausing the socket
DRAIN_S = 1.0  # how long a response left at its end event may take to finish its body before it is closed
_DRAINING: set[asyncio.Task] = set()


def new_session(**kw) -> aiohttp.ClientSession:
    """The client's HTTP session, the same wherever load is made (one process or a load worker).

    Tuned for many long streams (#10 item 4, figures in benchmarks/client_capacity.py): no pool limit,
    keep-alive connections dropped after 2 s idle (servers drop theirs, llama-server after 5 s: ours
    go first), no cookie jar (a benchmark's users share nothing, and a load balancer's sticky cookie
    would pin them all to one backend), a large read buffer, and :func:`send_trace`'s stamps.
    """
    connector = aiohttp.TCPConnector(limit=0, force_close=False, keepalive_timeout=2.0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, trace_configs=[send_trace()],
                                 cookie_jar=aiohttp.DummyCookieJar(), read_bufsize=READ_BUFSIZE, **kw)


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

    The connection goes back to the pool when the protocol is done: at once when the body has been
    read to its end, else once its last bytes arrive (a protocol stops reading at its end event, and
    the chunked body's terminator may still be on its way: closing the connection then would cost the
    next request a new one); a failure closes it.
    """
    draft.sent_ns = time.monotonic_ns()
    resp = await session.post(url, data=data, headers=headers, trace_request_ctx=draft)
    try:
        draft.http_status = resp.status
        draft.retry_after_s = retry_after(resp.headers.get("Retry-After"))
        yield resp
    except BaseException:
        resp.close()
        raise
    if resp.content.is_eof():
        resp.release()
    else:
        task = asyncio.get_running_loop().create_task(_drain(resp))
        _DRAINING.add(task)
        task.add_done_callback(_DRAINING.discard)


async def _drain(resp: aiohttp.ClientResponse) -> None:
    """Read what is left of a response's body (at most ``DRAIN_S``), then pool its connection."""
    done = False
    try:
        async with asyncio.timeout(DRAIN_S):
            while await resp.content.readany():
                pass
        done = True
    except Exception:  # noqa: BLE001  (timed out, reset: the connection is closed below)
        pass
    finally:
        resp.release() if done else resp.close()


def retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the delta-seconds form; an HTTP date or junk gives None)."""
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
