"""Protocols ``openai-chat`` and ``openai-completions``: streaming, with server usage."""

from __future__ import annotations

import json
import time

import aiohttp

from ..schemas import Endpoint
from .base import Draft, GenParams, Prompt
from .sse import events


class OpenAIClient:
    """One request = one streamed POST; fills a :class:`Draft` with raw timestamps."""

    def __init__(self, endpoint: Endpoint, session: aiohttp.ClientSession, chat: bool = True) -> None:
        self.endpoint = endpoint
        self.session = session
        self.chat = chat
        self.path = "/v1/chat/completions" if chat else "/v1/completions"

    def body(self, prompt: Prompt, params: GenParams) -> dict:
        body: dict = {
            "model": self.endpoint.model or "default",
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
        }
        if params.ignore_eos and self.endpoint.supports_ignore_eos:
            body["ignore_eos"] = True
        if self.chat:
            body["messages"] = prompt.messages or [{"role": "user", "content": prompt.text}]
        else:
            body["prompt"] = prompt.text
        return body

    async def send(self, prompt: Prompt, params: GenParams, draft: Draft) -> None:
        body = json.dumps(self.body(prompt, params)).encode()
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream", **self.endpoint.headers}
        draft.sent_ns = time.monotonic_ns()
        async with self.session.post(self.endpoint.url + self.path, data=body, headers=headers,
                                     trace_request_ctx=draft) as resp:
            draft.http_status = resp.status
            if resp.status != 200:
                text = (await resp.text())[:200].replace("\n", " ")
                draft.error = f"HTTP {resp.status}: {text}"
                return
            done = False
            async for ts, data in events(resp):
                if data == "[DONE]":
                    done = True
                    draft.done_ns = ts
                    break
                self._event(ts, data, draft)
                if draft.error:
                    return
        if not done and draft.finish_reason is None:
            draft.error = "stream ended before [DONE]"
        self._finish_counts(draft)

    def _event(self, ts: int, data: str, draft: Draft) -> None:
        try:
            event = json.loads(data)
        except json.JSONDecodeError:
            draft.error = f"malformed event: {data[:80]!r}"
            return
        if not isinstance(event, dict):
            draft.error = f"malformed event: {data[:80]!r}"
            return
        if "error" in event:
            err = event["error"]
            draft.error = "server error: " + (err.get("message", str(err)) if isinstance(err, dict) else str(err))[:200]
            return
        for choice in event.get("choices") or []:
            piece = (choice.get("delta") or {}).get("content") if self.chat else choice.get("text")
            if piece:
                draft.chunk_ns.append(ts)
                draft.chunk_tokens.append(1)
                draft.text_parts.append(piece)
            if choice.get("finish_reason"):
                draft.finish_reason = choice["finish_reason"]
        usage = event.get("usage")
        if usage:
            draft.input_tokens = usage.get("prompt_tokens")
            draft.output_tokens = usage.get("completion_tokens")
            draft.token_source = "usage"

    @staticmethod
    def _finish_counts(draft: Draft) -> None:
        """Without server usage, fall back to counting token-carrying chunks (flagged)."""
        if draft.output_tokens is None:
            draft.output_tokens = sum(draft.chunk_tokens)
            draft.token_source = "chunks"
