"""The resend rule, error kinds and the server watch, without a network (#11 items 6, 8, 9)."""

import asyncio
import errno

import aiohttp
import pytest

from deploybench.load import faults
from deploybench.metrics.core import error_kind, errors_by_kind
from deploybench.protocols.base import Draft
from deploybench.schemas import RequestRecord

RESET = aiohttp.ClientOSError(errno.ECONNRESET, "Connection reset by peer")


def _write_onto_closed() -> aiohttp.ClientOSError:
    """What aiohttp raises when the body is written onto a pooled connection the server already closed."""
    try:
        try:
            raise aiohttp.ClientConnectionResetError("Cannot write to closing transport")
        except aiohttp.ClientConnectionResetError as inner:
            raise aiohttp.ClientOSError(None, "Can not write request body for http://127.0.0.1:1/v1/chat/completions") from inner
    except aiohttp.ClientOSError as exc:
        return exc


WRITE_ONTO_CLOSED = _write_onto_closed()


@pytest.mark.parametrize("reused, status, chunks, exc, again", [
    (True, None, [], RESET, True),                                    # stale pooled connection, unread
    (True, None, [], aiohttp.ClientConnectionResetError("write"), True),
    (True, None, [], WRITE_ONTO_CLOSED, True),                       # the body never left: unread
    (False, None, [], WRITE_ONTO_CLOSED, False),
    (False, None, [], RESET, False),                                  # a fresh connection is never stale
    (True, None, [], aiohttp.ServerDisconnectedError(), False),       # clean close: maybe read, final
    (True, 200, [], RESET, False),                                    # an answer had started
    (True, None, [1], RESET, False),
])
def test_resend_only_when_the_server_never_read_the_request(reused, status, chunks, exc, again):
    d = Draft(reused=reused, http_status=status, chunk_ns=list(chunks))
    assert faults.never_reached(exc, d) is again


@pytest.mark.parametrize("error, kind", [
    ("HTTP 429: slow down", "http-429"), ("HTTP 503: busy", "http-503"),
    ("timeout after 1s: stalled after 4 tokens (kept)", "timeout-stalled"),
    ("timeout after 1s before the first byte", "timeout-first-byte"),
    ("timeout after 1s before the first token", "timeout-first-token"),
    ("connection refused: 127.0.0.1:1", "connection-refused"),
    ("connection reset after 4 tokens: ClientPayloadError", "connection-reset"),
    ("connection dropped: ServerDisconnectedError", "connection-dropped"),
    ("malformed event: '{'", "malformed"), ("server error: boom", "server-error"),
    ("dropped: 4 requests already in flight (max_in_flight)", "dropped"),
    ("cancelled: level hard limit", "cancelled"), ("something new", "other"),
])
def test_error_kinds(error, kind):
    assert error_kind(error) == kind


def test_errors_by_kind_counts_measured_failures_most_frequent_first():
    recs = [RequestRecord(index=i, scheduled_ns=0, sent_ns=0, done_ns=1, error=e)
            for i, e in enumerate(["HTTP 429: x", None, "timeout after 1s before the first byte", "HTTP 429: y"])]
    assert list(errors_by_kind(recs).items()) == [("http-429", 2), ("timeout-first-byte", 1)]


def test_describe_names_where_a_timeout_happened():
    d = Draft(chunk_ns=[1, 2], chunk_tokens=[1, 1])
    assert faults.describe(asyncio.TimeoutError(), d, 1.0) == "timeout after 1s: stalled after 2 tokens (kept)"
    assert faults.describe(asyncio.TimeoutError(), Draft(http_status=200), 2.5) == \
        "timeout after 2.5s before the first token"


def test_refusals_back_off_then_trip_and_a_success_resets_them():
    w = faults.ServerWatch(refusals=3)
    waits = [w.after("connection refused: h:1") for _ in range(2)]
    assert waits == [0.05, 0.1] and w.reason is None
    assert w.after(None) == 0.0 and w.refused == 0
    for _ in range(3):
        w.after("connection refused: h:1")
    assert w.reason == "server unreachable: 3 connections refused in a row" and w.stopped.is_set()
    gone = faults.ServerWatch(alive=lambda: "server process 7 exited")
    gone.after("connection refused: h:1")
    assert gone.reason == "server process 7 exited"
