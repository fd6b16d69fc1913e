"""Protocol ``tgi``: text-generation-inference's native API.

* ``POST /generate_stream`` (default): server-sent events, one per generated token::

      data:{"index":1,"token":{"id":330,"text":" The","logprob":-0.2,"special":false},
            "generated_text":null,"details":null}

  The last event also carries ``generated_text`` and ``details`` (``finish_reason``:
  ``length`` | ``eos_token`` | ``stop_sequence``, ``generated_tokens``, ``seed``; TGI >= 2 adds
  ``input_length``). Errors arrive as ``data:{"error": "...", "error_type": "..."}``.
* ``POST /generate`` (``stream=False``): one JSON answer; with ``details: true`` it carries
  ``finish_reason``, ``generated_tokens`` and the ``prefill`` tokens (``decoder_input_details``).

Request: ``{"inputs": text, "parameters": {"max_new_tokens": N, "details": true,
"do_sample": false}}`` (greedy, as the 2023 study ran it). TGI has **no ignore_eos**: a request
may stop early at an end-of-sequence token (``finish_reason == "eos_token"``), so output lengths
are counted from the stream, never assumed; ``Endpoint.supports_ignore_eos`` is False for TGI.

:func:`apply_event` is shared with the SageMaker protocol, whose stream carries the same events.
"""

from __future__ import annotations

import json
import time

import aiohttp

from ..schemas import Endpoint
from .base import Draft, GenParams, Prompt, loads_event
from .sse import error_text, events, timed_post

FINISH_REASONS = {"length": "length", "eos_token": "stop", "stop_sequence": "stop"}


def request_body(prompt: Prompt, params: GenParams, *, stream: bool = True) -> dict:
    """TGI ``/generate(_stream)`` body. Greedy unless a temperature > 0 is asked for."""
    parameters: dict = {"max_new_tokens": params.max_tokens, "details": True}
    if params.temperature > 0:
        parameters.update(do_sample=True, temperature=params.temperature)
    else:
        parameters["do_sample"] = False
    if not stream:
        parameters["decoder_input_details"] = True  # prefill tokens -> input token count
    return {"inputs": prompt.text, "parameters": parameters}


def apply_event(event: object, ts: int, draft: Draft) -> bool:
    """Apply one decoded TGI stream event to ``draft``; True when it was the final event."""
    if not isinstance(event, dict):
        draft.error = f"malformed event: {str(event)[:80]!r}"
        return True
    if event.get("error") is not None:
        kind = event.get("error_type")
        draft.error = f"server error{f' ({kind})' if kind else ''}: {str(event['error'])[:200]}"
        return True
    token = event.get("token")
    if isinstance(token, dict):
        # one event = one generated token (special ones, e.g. the EOS, included: TGI counts them)
        draft.chunk_ns.append(ts)
        draft.chunk_tokens.append(1)
        text = token.get("text") or ""
        if text and not token.get("special"):
            draft.text_parts.append(text)
            draft.first_content_ns = draft.first_content_ns or ts
    details = event.get("details")
    if isinstance(details, dict) or event.get("generated_text") is not None:
        _apply_details(details or {}, draft)
        return True
    return False


def _apply_details(details: dict, draft: Draft) -> None:
    reason = details.get("finish_reason")
    if reason:
        draft.finish_reason = FINISH_REASONS.get(reason, reason)
    if isinstance(details.get("generated_tokens"), int):
        draft.output_tokens = details["generated_tokens"]
        draft.token_source = "usage"
    if isinstance(details.get("input_length"), int):  # TGI >= 2 streams it
        draft.input_tokens = details["input_length"]
    elif isinstance(details.get("prefill"), list) and details["prefill"]:  # /generate with decoder_input_details
        draft.input_tokens = len(details["prefill"])


def finish_counts(draft: Draft) -> None:
    """Without server counts, fall back to counting token events (flagged as such)."""
    if draft.output_tokens is None and draft.error is None:
        draft.output_tokens = sum(draft.chunk_tokens)
        draft.token_source = "chunks"


class TgiClient:
    """One request = one ``/generate_stream`` (or ``/generate``) POST; fills a :class:`Draft`."""

    def __init__(self, endpoint: Endpoint, session: aiohttp.ClientSession, *, stream: bool = True) -> None:
        self.endpoint = endpoint
        self.session = session
        self.stream = stream
        self.path = "/generate_stream" if stream else "/generate"

    def body(self, prompt: Prompt, params: GenParams) -> dict:
        return request_body(prompt, params, stream=self.stream)

    async def send(self, prompt: Prompt, params: GenParams, draft: Draft) -> None:
        body = json.dumps(self.body(prompt, params))
        headers = {"Content-Type": "application/json", **self.endpoint.headers}
        if self.stream:
            headers["Accept"] = "text/event-stream"
        async with timed_post(self.session, self.endpoint.url + self.path, draft, data=body, headers=headers) as resp:
            if resp.status != 200:
                draft.error = f"HTTP {resp.status}: {_error_text(await error_text(resp, 1 << 16))}"
                return
            if self.stream:
                await self._read_stream(resp, draft)
            else:
                await self._read_whole(resp, draft)
        finish_counts(draft)

    async def _read_stream(self, resp: aiohttp.ClientResponse, draft: Draft) -> None:
        final = False
        async for ts, data in events(resp):
            try:
                event = loads_event(data)
            except json.JSONDecodeError:
                draft.error = f"malformed event: {data[:80]!r}"
                return
            final = apply_event(event, ts, draft)
            if final:
                draft.done_ns = ts  # the final event, as [DONE] for OpenAI
                break
        if not final and draft.error is None:
            draft.error = "stream ended before the final event (no details)"

    async def _read_whole(self, resp: aiohttp.ClientResponse, draft: Draft) -> None:
        raw = await resp.read()
        ts = draft.done_ns = time.monotonic_ns()
        answer = json.loads(raw)
        if isinstance(answer, list) and answer:  # SageMaker-style list answers
            answer = answer[0]
        if not isinstance(answer, dict):
            draft.error = f"malformed answer: {raw[:80]!r}"
            return
        if answer.get("error") is not None:
            draft.error = f"server error: {str(answer['error'])[:200]}"
            return
        text = answer.get("generated_text") or ""
        details = answer.get("details") or {}
        _apply_details(details, draft)
        n = draft.output_tokens if draft.output_tokens is not None else (1 if text else 0)
        if n:  # the whole answer arrives at once: one chunk carrying every token
            draft.chunk_ns.append(ts)
            draft.chunk_tokens.append(n)
        if text:
            draft.text_parts.append(text)
            draft.first_content_ns = draft.first_content_ns or ts


def _error_text(text: str) -> str:
    try:
        obj = json.loads(text)
        if isinstance(obj, dict) and obj.get("error"):
            return str(obj["error"])[:200]
    except json.JSONDecodeError:
        pass
    return text[:200].replace("\n", " ")
