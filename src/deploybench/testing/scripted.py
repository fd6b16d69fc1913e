"""An OpenAI-compatible streaming server with an exact timing script, and fault injection.

Each stream: first token ``ttft_ms`` after the request arrives, then one token every ``itl_ms``,
``max_tokens`` tokens in all (``tokens_per_chunk`` tokens per SSE chunk). Times are scheduled
against absolute deadlines, so errors do not accumulate.

The request's ``model`` field picks a fault: ``fault-http500``, ``fault-drop`` (connection cut
mid-stream), ``fault-malformed`` (a non-JSON event), ``fault-hang`` (never answers),
``fault-nousage`` (no usage chunk). Run it as ``python -m deploybench.testing.scripted --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

from aiohttp import web


def _chunk(i: int, chat: bool, k: int) -> bytes:
    text = "".join(f" t{i + j}" for j in range(k))
    choice = {"index": 0, "delta": {"content": text}} if chat else {"index": 0, "text": text}
    return b"data: " + json.dumps({"id": "s", "object": "chunk", "choices": [choice]}).encode() + b"\n\n"


async def _sleep_until(t_ns: int) -> None:
    delay = (t_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)


def make_app(ttft_ms: float, itl_ms: float, tokens_per_chunk: int = 1) -> web.Application:
    async def models(_req: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "scripted", "object": "model"}]})

    async def health(_req: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def complete(req: web.Request) -> web.StreamResponse:
        t0 = time.monotonic_ns()
        body = await req.json()
        chat = req.path.endswith("chat/completions")
        model = str(body.get("model", ""))
        n = int(body.get("max_tokens") or 16)
        if model == "fault-http500":
            return web.json_response({"error": {"message": "injected failure"}}, status=500)
        if model == "fault-hang":
            await asyncio.sleep(3600)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await resp.prepare(req)
        k = max(1, tokens_per_chunk)
        sent = 0
        while sent < n:
            step = min(k, n - sent)
            await _sleep_until(t0 + int((ttft_ms + (sent + step - 1) * itl_ms) * 1e6))  # last token's due time
            if model == "fault-malformed" and sent >= n // 2:
                await resp.write(b"data: {not json\n\n")
                return resp
            if model == "fault-drop" and sent >= n // 2:
                req.transport.close()
                return resp
            await resp.write(_chunk(sent, chat, step))
            sent += step
        prompt = body.get("prompt") or " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        final = {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
        await resp.write(b"data: " + json.dumps(final).encode() + b"\n\n")
        if model != "fault-nousage":
            usage = {"choices": [], "usage": {"prompt_tokens": len(str(prompt).split()), "completion_tokens": n}}
            await resp.write(b"data: " + json.dumps(usage).encode() + b"\n\n")
        await resp.write(b"data: [DONE]\n\n")
        return resp

    app = web.Application()
    app.add_routes([web.get("/v1/models", models), web.get("/health", health),
                    web.post("/v1/chat/completions", complete), web.post("/v1/completions", complete)])
    return app


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ttft-ms", type=float, default=50.0)
    ap.add_argument("--itl-ms", type=float, default=10.0)
    ap.add_argument("--tokens-per-chunk", type=int, default=1)
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        ap.error("--host must be a loopback address")
    web.run_app(make_app(a.ttft_ms, a.itl_ms, a.tokens_per_chunk), host=a.host, port=a.port,
                print=None, access_log=None)


if __name__ == "__main__":
    main()
