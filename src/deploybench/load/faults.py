"""Failed requests: what went wrong (one line), whether a request may be sent again, when a level stops.

* :func:`never_reached` — the only case a request is sent again: it went out on a pooled keep-alive
  connection and the peer reset that connection before any byte of a response came back. A reset
  means the server's kernel still held the request unread (a process that had read it and then
  closed or died sends a clean close, FIN); a clean close without an answer is ambiguous (the
  server may have read and processed the request) and is final.
* :class:`ServerWatch` — a level stops at once when its server is gone: the engine process exited,
  or ``REFUSALS`` connections in a row were refused. A refused user backs off (50 ms, doubling, at
  most 1 s) instead of spinning on instant errors.
* :data:`SERVER_WATCH` — the watch of the level being driven (set by the sweep runner around a level;
  the load runners read it, so level drivers need not pass it along).
"""

from __future__ import annotations

import asyncio
import contextvars
import errno
from collections.abc import Callable

import aiohttp

from ..protocols.base import Draft
from ..protocols.sse import OversizedEvent, StalledStream

REFUSALS = 5
BACKOFF_S, BACKOFF_MAX_S = 0.05, 1.0
RETRY_AFTER_MAX_S = 30.0  # a closed-loop user honours Retry-After up to this long
RESET_ERRNOS = (errno.ECONNRESET, errno.EPIPE)


def never_reached(exc: BaseException, draft: Draft) -> bool:
    """True when the request died on a stale pooled connection before the server read it."""
    if draft.http_status is not None or draft.chunk_ns or not draft.reused:
        return False
    return _is_reset(exc)


def _is_reset(exc: BaseException | None, depth: int = 0) -> bool:
    """A reset, a broken pipe, or a write onto a transport the peer had already closed.

    aiohttp reports the last as ``ClientOSError("Can not write request body ...")`` with no errno,
    caused by ``ClientConnectionResetError("Cannot write to closing transport")``: the request body
    never left, so the server cannot have read the request.
    """
    if exc is None or depth > 4:
        return False
    if isinstance(exc, (aiohttp.ClientConnectionResetError, ConnectionResetError, BrokenPipeError)):
        return True
    if isinstance(exc, aiohttp.ClientOSError) and exc.errno in RESET_ERRNOS:
        return True
    if isinstance(exc, aiohttp.ClientOSError) and str(exc).startswith("Can not write request body"):
        return True
    return _is_reset(exc.__cause__ or exc.__context__, depth + 1)


def describe(exc: BaseException, draft: Draft, timeout_s: float) -> str:
    """One line for a failed request; its start names the kind (``metrics.core.error_kind``)."""
    if isinstance(exc, StalledStream):
        return f"timeout after {exc.stall_s:g}s without an event: stalled after {sum(draft.chunk_tokens)} tokens"
    if isinstance(exc, OversizedEvent):
        return f"oversized event: {exc}"
    if isinstance(exc, UnicodeDecodeError):
        return f"malformed response: not UTF-8 ({exc.reason} at byte {exc.start})"
    if isinstance(exc, asyncio.TimeoutError):
        if draft.chunk_ns:
            return f"timeout after {timeout_s:g}s: stalled after {sum(draft.chunk_tokens)} tokens (kept)"
        if draft.http_status is not None:
            return f"timeout after {timeout_s:g}s before the first token"
        return f"timeout after {timeout_s:g}s before the first byte"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"connection refused: {exc.host}:{exc.port}"
    if _is_reset(exc) or "ECONNRESET" in repr(exc) or "Connection reset" in str(exc):
        where = f"after {sum(draft.chunk_tokens)} tokens" if draft.chunk_ns else "before the answer"
        return f"connection reset {where}: {type(exc).__name__}"
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError)):
        return f"connection dropped: {type(exc).__name__}"
    if isinstance(exc, aiohttp.ClientResponseError):  # the client's parser refused the answer's head
        return f"malformed response: {exc.message}"[:200]
    if isinstance(exc, aiohttp.ClientError):
        return f"{type(exc).__name__}: {exc}"[:200]
    return f"malformed response: {type(exc).__name__}: {exc}"[:200]


class ServerWatch:
    """Says when a level must stop because its server is gone, and how long a refused user waits."""

    def __init__(self, alive: Callable[[], str | None] | None = None, refusals: int = REFUSALS) -> None:
        self.alive = alive  # None while the server runs, else why it does not (e.g. "exited with code 3")
        self.limit = refusals
        self.refused = 0
        self.reason: str | None = None
        self.stopped = asyncio.Event()

    def after(self, error: str | None) -> float:
        """Note a finished request; the back-off (s) before this user's next one."""
        if error is not None and error.startswith("connection refused"):
            self.refused += 1
            if self.refused >= self.limit:
                self.trip(f"server unreachable: {self.refused} connections refused in a row")
            elif self.alive is not None and (why := self.alive()):
                self.trip(why)
            return min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (self.refused - 1))
        self.refused = 0
        return 0.0

    def trip(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
            self.stopped.set()

    async def watch(self, interval_s: float = 0.2) -> None:
        """Poll the server process until it is gone (then trip) or the task is cancelled."""
        while self.reason is None and self.alive is not None:
            why = self.alive()
            if why:
                self.trip(why)
                return
            await asyncio.sleep(interval_s)


SERVER_WATCH: contextvars.ContextVar[ServerWatch | None] = contextvars.ContextVar("server_watch", default=None)


def process_alive(pid: int | None) -> Callable[[], str | None] | None:
    """A check of the engine process ``pid`` (None: no local process to watch)."""
    if pid is None:
        return None
    import psutil  # noqa: PLC0415

    def check() -> str | None:
        try:
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                return None
        except psutil.NoSuchProcess:
            pass
        return f"server process {pid} exited"

    return check
