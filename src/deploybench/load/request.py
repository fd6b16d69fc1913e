"""One request: sent through a :class:`ProtocolClient`, every failure stored in its record, never raised.

``load`` owns the :class:`ProtocolClient` Protocol; any object with an async ``send(prompt,
params, draft)`` works (OpenAI, TGI, SageMaker, a test double).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Protocol

import aiohttp

from ..protocols.base import Draft, GenParams, Prompt
from ..schemas import RequestRecord
from . import faults

RESENDS = 2  # resends of a request that died on a stale pooled connection before the server read it


class ProtocolClient(Protocol):
    async def send(self, prompt: Prompt, params: GenParams, draft: Draft) -> None: ...


async def one_request(client: ProtocolClient, prompt: Prompt, params: GenParams, timeout_s: float,
                      index: int, vu: int, scheduled_ns: int, warmup: bool,
                      cancelled: Callable[[RequestRecord], None] | None = None) -> RequestRecord:
    """Send one request; every failure becomes an ``error`` in the record, never an exception.

    Cancelled in flight (a level's hard limit, a server gone, Ctrl-C), the request is handed to
    ``cancelled`` as a record with error ``cancelled`` (partial tokens kept) before the cancellation goes on.
    """
    return (await request_draft(client, prompt, params, timeout_s, index, vu, scheduled_ns, warmup, cancelled))[0]


async def request_draft(client: ProtocolClient, prompt: Prompt, params: GenParams, timeout_s: float, index: int,
                        vu: int, scheduled_ns: int, warmup: bool,
                        cancelled: Callable[[RequestRecord], None] | None = None) -> tuple[RequestRecord, Draft]:
    """:func:`one_request`, with the protocol's scratchpad (``retry_after_s``)."""
    own = getattr(prompt, "max_tokens", None)  # a workload may give each request its own output length
    if own:
        params = dataclasses.replace(params, max_tokens=own)
    draft = Draft()
    try:
        for attempt in range(RESENDS + 1):
            try:
                async with asyncio.timeout(timeout_s):  # not wait_for: on 3.11 it swallows a Ctrl-C landing
                    await client.send(prompt, params, draft)  # as the answer ends, and the run went on
                break
            except (aiohttp.ClientOSError, aiohttp.ClientConnectionResetError, aiohttp.ServerDisconnectedError) as exc:
                if attempt == RESENDS or not faults.never_reached(exc, draft):
                    raise
                draft = Draft()  # a stale pooled connection reset before the server read it: send again
    except asyncio.CancelledError:
        if cancelled is not None:
            draft.error = "cancelled"
            cancelled(_record(draft, prompt, params, index, vu, scheduled_ns, warmup))
        raise
    except (asyncio.TimeoutError, aiohttp.ClientError, ValueError, KeyError, TypeError, UnicodeError) as exc:
        draft.error = faults.describe(exc, draft, timeout_s)
    return _record(draft, prompt, params, index, vu, scheduled_ns, warmup), draft


def _record(draft: Draft, prompt: Prompt, params: GenParams, index: int, vu: int, scheduled_ns: int,
            warmup: bool) -> RequestRecord:
    done = draft.done_ns if (draft.done_ns and draft.error is None) else time.monotonic_ns()
    return RequestRecord.model_construct(
        index=index, vu=vu, warmup=warmup, prompt_id=prompt.id, scheduled_ns=scheduled_ns,
        started_ns=draft.started_ns or None, connected_ns=draft.connected_ns or None,
        reused=draft.reused if draft.connected_ns else None, headers_ns=draft.headers_ns or None,
        sent_ns=draft.sent_ns or done, chunk_ns=draft.chunk_ns, chunk_tokens=draft.chunk_tokens,
        first_content_ns=draft.first_content_ns,
        done_ns=done, input_tokens=draft.input_tokens, output_tokens=draft.output_tokens,
        token_source=draft.token_source if draft.token_source in ("usage", "tokenizer", "chunks") else "none",
        max_tokens=params.max_tokens, finish_reason=draft.finish_reason, error=draft.error,
        http_status=draft.http_status,
    )

