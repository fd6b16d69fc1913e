"""Protocols ``openai-chat`` and ``openai-completions``: streaming, with server usage."""

from __future__ import annotations

import json

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from ..schemas import Endpoint
from .base import Draft, GenParams, Prompt, loads_event
from .sse import error_text, events, timed_post


OTHER_OUTPUT = ("reasoning_content", "reasoning", "tool_calls", "function_call")
PLAIN_DELTA = frozenset(("content", "role"))  # a delta with only these keys carries no other output


def _as_text(value) -> str:
    if value is None or value == "" or value == []:
        return ""
    return value if isinstance(value, str) else json.dumps(value)


def _count(usage: dict | None, key: str) -> int | None:
    v = (usage or {}).get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _logprob_tokens(logprobs) -> int:
    """Tokens an event carries by its logprobs (one entry per token), 0 when it has none."""
    if not isinstance(logprobs, dict):
        return 0
    entries = logprobs.get("content") if "content" in logprobs else logprobs.get("tokens")
    return len(entries) if isinstance(entries, list) else 0


def _tokens(cumulative: int | None, so_far: int, hinted: int) -> int:
    """Tokens one output event carries: from a running usage count (vLLM's ``continuous_usage_stats``),
    else from its logprobs, else 1 (one event per token, as llama-server and vLLM stream by default).

    A server that batches tokens into one event without saying so is caught afterwards: its final
    usage count disagrees with the streamed count (``token_mismatch`` in the summary).
    """
    if cumulative is not None and cumulative > so_far:
        return cumulative - so_far
    return hinted if hinted > 0 else 1


class OpenAIClient:
    """One request = one streamed POST; fills a :class:`Draft` with raw timestamps."""

    def __init__(self, endpoint: Endpoint, session: aiohttp.ClientSession, chat: bool = True) -> None:
        self.endpoint = endpoint
        self.session = session
        self.chat = chat
        self.path = "/v1/chat/completions" if chat else "/v1/completions"
        # built once: aiohttp takes a URL and a CIMultiDict as they are (no parsing or merging per request)
        self.url = URL(endpoint.url + self.path)
        self.headers = CIMultiDict({"Content-Type": "application/json", "Accept": "text/event-stream",
                                    **endpoint.headers})

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
        if self.endpoint.usage_per_event:  # tokens per event exact even when the server batches them
            body["stream_options"]["continuous_usage_stats"] = True
        if self.chat:
            body["messages"] = prompt.messages or [{"role": "user", "content": prompt.text}]
        else:
            body["prompt"] = prompt.text
        return body

    async def send(self, prompt: Prompt, params: GenParams, draft: Draft) -> None:
        body = json.dumps(self.body(prompt, params)).encode()
        async with timed_post(self.session, self.url, draft, data=body, headers=self.headers) as resp:
            if resp.status != 200:
                text = await error_text(resp)
                draft.error = f"HTTP {resp.status}: {text}"
                return
            done = False
            async for ts, data in events(resp, params.stall_timeout_s):
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
        """One streamed event; anything that is not the documented shape becomes ``draft.error``."""
        try:
            event = loads_event(data)
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
        choices, usage = event.get("choices") or [], event.get("usage")
        if not isinstance(choices, list) or (usage is not None and not isinstance(usage, dict)):
            draft.error = f"malformed event ({'usage' if isinstance(choices, list) else 'choices'}): {data[:80]!r}"
            return
        if len(choices) == 1:  # the common event: one choice (no string joins)
            got = self._choice(choices[0])
            if got is None:
                draft.error = f"malformed event (choices): {data[:80]!r}"
                return
            content, other, reason, hinted = got
            output = content + other if other else content
            if reason:
                draft.finish_reason = str(reason)[:100]
        else:
            output = content = ""
            hinted = 0
            for choice in choices:
                got = self._choice(choice)
                if got is None:
                    draft.error = f"malformed event (choices): {data[:80]!r}"
                    return
                text, other, reason, k = got
                content, output, hinted = content + text, output + text + other, hinted + k
                if reason:
                    draft.finish_reason = str(reason)[:100]
        cumulative = _count(usage, "completion_tokens") if usage else None
        if output:
            draft.chunk_ns.append(ts)
            k = _tokens(cumulative, draft.streamed_tokens, hinted)
            draft.chunk_tokens.append(k)
            draft.streamed_tokens += k
            if content:
                draft.text_parts.append(content)
                if draft.first_content_ns is None:
                    draft.first_content_ns = ts
        if usage:
            draft.input_tokens = _count(usage, "prompt_tokens")
            draft.output_tokens = cumulative
            draft.token_source = "usage" if cumulative is not None else draft.token_source

    def _choice(self, choice) -> tuple[str, str, str | None, int] | None:
        """``(content, other output, finish reason, tokens the event says it carries or 0)``; None = bad shape.

        Other output is what a model generates besides the answer text: reasoning (``reasoning_content``,
        ``reasoning``) and tool calls; it counts as output (TTFT is the first token of any kind).
        """
        if not isinstance(choice, dict):
            return None
        if self.chat:
            delta = choice.get("delta")
            if delta is None:
                delta = {}
            if not isinstance(delta, dict):
                return None
            text = delta.get("content")
            other = "" if delta.keys() <= PLAIN_DELTA else "".join(_as_text(delta.get(key)) for key in OTHER_OUTPUT)
        else:
            text, other = choice.get("text"), ""
        if text is not None and not isinstance(text, str):
            return None
        logprobs = choice.get("logprobs")
        return text or "", other, choice.get("finish_reason"), _logprob_tokens(logprobs) if logprobs else 0

    @staticmethod
    def _finish_counts(draft: Draft) -> None:
        """Without server usage, fall back to counting token-carrying chunks (flagged)."""
        if draft.output_tokens is None:
            draft.output_tokens = sum(draft.chunk_tokens)
            draft.token_source = "chunks"
