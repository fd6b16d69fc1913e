"""Server-sent events over an aiohttp response, with arrival timestamps.

Reads whatever bytes have arrived (``readany``) and splits them into lines itself: one await per
network read instead of one per line. Each event is stamped with the time its last byte came off the
socket: the connection's protocol (:class:`StampingHandler`) notes the clock each time it is handed
bytes, before anything is parsed, so an event's time does not wait for the client's task to be
scheduled behind a thousand other streams (docs/metrics.md, "Timestamps").
Also the session every load maker uses (:func:`new_session`) and the timing hooks on it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp.client_proto import ResponseHandler


MAX_EVENT_BYTES = 1 << 20
"""The longest SSE line the client buffers (1 MiB): a line that never ends, or one event of many
megabytes, fails the request (``oversized event``) instead of growing the client without bound."""
MAX_HEADERS = 200
"""More response header lines than this fail the request (a well-behaved server sends a few dozen)."""


class OversizedEvent(ValueError):
    """An SSE line longer than :data:`MAX_EVENT_BYTES`."""


class StalledStream(TimeoutError):
    """No complete event for ``stall_s`` seconds (a stream that trickles bytes, or none)."""

    def __init__(self, stall_s: float) -> None:
        super().__init__(f"no complete event for {stall_s:g}s")
        self.stall_s = stall_s


class _Watchdog:
    """Cancels the reading task when no complete event came for ``stall_s``: one timer per request,
    re-armed only when it fires (not a timeout per network read: that would cost every chunk a timer)."""

    def __init__(self, stall_s: float) -> None:
        self.loop, self.stall_s = asyncio.get_running_loop(), stall_s
        self.task = asyncio.current_task()
        self.last, self.fired = self.loop.time(), False
        self.handle = self.loop.call_at(self.last + stall_s, self._check)

    reading = False  # the task waits on the network now (a cancel then lands in the reader, nowhere else)

    def _check(self) -> None:
        due = self.last + self.stall_s
        if self.loop.time() < due:
            self.handle = self.loop.call_at(due, self._check)
        elif not self.reading:  # the caller is busy with an event: look again shortly
            self.handle = self.loop.call_later(0.05, self._check)
        else:
            self.fired = True
            self.task.cancel()

    def close(self) -> None:
        self.handle.cancel()


async def events(resp: aiohttp.ClientResponse, stall_s: float | None = None) -> AsyncIterator[tuple[int, str]]:
    """Yield ``(monotonic_ns, data)`` for each ``data:`` line (``error:`` lines become JSON errors).

    One await per network read (``readany``); each event stamped when its last byte came off the socket
    (:func:`arrival_marks`; without marks, when the read returned). Bounded: a line over
    :data:`MAX_EVENT_BYTES` raises :class:`OversizedEvent`, bytes that are not UTF-8
    ``UnicodeDecodeError``, ``stall_s`` without a complete line :class:`StalledStream`. Runs once per
    streamed event, so written for speed: no nested generator, no call for the common ``data:`` line.
    """
    dog = _Watchdog(stall_s) if stall_s else None
    content, buf, marks = resp.content, b"", arrival_marks(resp)
    end = 0  # payload bytes read so far: the offset just past ``data``
    try:
        while True:
            if dog is None:
                data = await content.readany()
            else:
                dog.reading = True  # a cancel now lands in the reader, nowhere else
                data = await content.readany()
                dog.reading = False
            now = time.monotonic_ns()
            if not data:
                break
            if b"\n" not in data:
                end += len(data)
                buf += data
                if len(buf) > MAX_EVENT_BYTES:
                    raise OversizedEvent(f"an SSE line longer than {MAX_EVENT_BYTES} bytes")
                continue
            pos = end - len(buf)  # the payload offset of the first byte of buf + data
            end += len(data)
            *complete, buf = (buf + data).split(b"\n") if buf else data.split(b"\n")
            if dog is not None:
                dog.last = dog.loop.time()
            for raw in complete:
                if len(raw) > MAX_EVENT_BYTES:
                    raise OversizedEvent(f"an SSE line longer than {MAX_EVENT_BYTES} bytes")
                pos += len(raw) + 1  # just past this line's newline
                ts = now
                if marks is not None:  # the first socket read that reached it
                    while marks and marks[0][0] < pos:
                        marks.popleft()
                    ts = marks[0][1] if marks else now
                if raw[:5] == b"data:":  # the common line, without a call
                    yield ts, raw[5:].strip().decode("utf-8")
                elif raw and raw != b"\r" and (event := _event(raw)) is not None:
                    yield ts, event
        if len(buf) > MAX_EVENT_BYTES:
            raise OversizedEvent(f"an SSE line longer than {MAX_EVENT_BYTES} bytes")
        if buf and (event := _event(buf)) is not None:
            yield time.monotonic_ns(), event
    except asyncio.CancelledError:
        if dog is None or not dog.fired:
            raise
        dog.task.uncancel()
        raise StalledStream(dog.stall_s) from None
    finally:
        if dog is not None:
            dog.close()


class StampingHandler(ResponseHandler):
    """aiohttp's connection protocol, noting when each socket read's bytes reached the response body.

    ``data_received`` runs in the event loop's I/O callback, before any task is woken: the clock read
    on entry is the bytes' arrival, however many streams' tasks then queue behind each other. After
    aiohttp has parsed the read, ``(payload bytes so far, ns)`` is appended to the current response's
    marks, which :func:`events` consumes (so they stay as short as the unread part of the body)."""

    rx_payload = None
    rx_marks: collections.deque | None = None

    def data_received(self, data: bytes, _now=time.monotonic_ns, _parse=ResponseHandler.data_received) -> None:
        now = _now()  # runs for every socket read of every stream: no global or super() lookups
        _parse(self, data)
        payload = self._payload
        if payload is None:
            return
        if payload is not self.rx_payload:
            self.rx_payload, self.rx_marks = payload, collections.deque()
        total = payload.total_bytes
        marks = self.rx_marks
        if not marks or marks[-1][0] != total:
            marks.append((total, now))


def arrival_marks(resp: aiohttp.ClientResponse) -> collections.deque | None:
    """The ``(payload bytes, arrival ns)`` marks of ``resp``'s body, or None where its connection keeps
    none (a session not made by :func:`new_session`)."""
    conn = resp.connection
    proto = conn.protocol if conn is not None else None
    if isinstance(proto, StampingHandler) and proto.rx_payload is resp.content:
        return proto.rx_marks
    return None


class _StampingConnector(aiohttp.TCPConnector):
    """A TCP connector whose connections are :class:`StampingHandler` s."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._factory = functools.partial(StampingHandler, loop=self._loop)


def _event(raw: bytes) -> str | None:
    """The payload of one SSE line: ``data:`` lines as text, ``error:`` lines as a JSON error, else None."""
    if raw.startswith(b"data:"):
        return raw[5:].strip().decode("utf-8")
    line = raw.strip()
    if line.startswith(b"data:"):
        return line[5:].strip().decode("utf-8")
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
    would pin them all to one backend), a large read buffer, :func:`send_trace`'s stamps, and
    connections that note when bytes arrive (:class:`StampingHandler`).
    """
    connector = _StampingConnector(limit=0, force_close=False, keepalive_timeout=2.0)
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
    and ``retry_after_s`` come from the response head. Redirects are not followed (a 3xx is an HTTP
    error of its status), and a head of more than :data:`MAX_HEADERS` lines fails the request. The protocol stamps ``done_ns`` itself, with
    the arrival time of its end-of-stream event (``[DONE]``, TGI's final token event).

    The connection goes back to the pool when the protocol is done: at once when the body has been
    read to its end, else once its last bytes arrive (a protocol stops reading at its end event, and
    the chunked body's terminator may still be on its way: closing the connection then would cost the
    next request a new one); a failure closes it.
    """
    draft.sent_ns = time.monotonic_ns()
    # a benchmark never follows a redirect silently (a POST would become a GET; a loop would never end)
    resp = await session.post(url, data=data, headers=headers, trace_request_ctx=draft, allow_redirects=False)
    try:
        if len(resp.raw_headers) > MAX_HEADERS:
            raise ValueError(f"{len(resp.raw_headers)} response headers (more than {MAX_HEADERS})")
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


async def error_text(resp: aiohttp.ClientResponse, limit: int = 200) -> str:
    """The start of an error answer's body, one line (at most 64 KiB read, whatever the server sends)."""
    data = await resp.content.read(1 << 16)
    return data.decode("utf-8", errors="replace")[:limit].replace("\n", " ")


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
