"""Serve text-generation-inference's wire format from a real llama-server.

Routes (as TGI 1.x/2.x): ``POST /generate_stream`` (SSE, one event per token, the last one with
``generated_text`` and ``details``), ``POST /generate`` (one JSON answer), ``GET /info``,
``GET /health``. Upstream: llama-server's native ``POST /completion`` with ``stream``,
``n_predict``, ``return_tokens`` and ``ignore_eos``.

Each upstream token is forwarded the moment it arrives. The final TGI event is the one carrying
the ``max_new_tokens``-th token (``finish_reason: length``), or, when the model stops by itself,
the end-of-sequence token marked special (``finish_reason: eos_token``) — exactly TGI's shape.
llama-server streams the EOS as a token without text, followed by a ``stop`` chunk; so, when EOS
is allowed, a token without text is held until the next chunk says what it was (only such tokens,
e.g. partial UTF-8, are delayed by one step). ``ignore_eos`` (default on) is an adapter setting, not a request parameter, because TGI
has none: it makes outputs exactly ``max_new_tokens`` long so tests can check counts.

``fail_after_tokens`` injects a TGI in-stream error event after that many tokens (fault tests).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

TGI_DEFAULT_MAX_NEW_TOKENS = 20  # TGI 1.x default
_UPSTREAM = web.AppKey("upstream_session", aiohttp.ClientSession)


class UpstreamError(Exception):
    def __init__(self, status: int, message: str, error_type: str = "generation") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


def _event(index: int, token_id: int, text: str, special: bool = False, *, generated_text: str | None = None,
           details: dict | None = None) -> dict:
    return {"index": index, "token": {"id": token_id, "text": text, "logprob": None, "special": special},
            "generated_text": generated_text, "details": details}


class TgiAdapter:
    """TGI semantics in front of a llama-server at ``upstream`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, upstream: str, *, ignore_eos: bool = True, model_id: str = "llama-server",
                 fail_after_tokens: int | None = None, request_timeout_s: float = 300.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.ignore_eos = ignore_eos
        self.model_id = model_id
        self.fail_after_tokens = fail_after_tokens
        self.request_timeout_s = request_timeout_s

    # ------------------------------------------------------------------ application

    def app(self) -> web.Application:
        app = web.Application()
        app.cleanup_ctx.append(self._session_ctx)
        app.router.add_post("/generate_stream", self.handle_generate_stream)
        app.router.add_post("/generate", self.handle_generate)
        app.router.add_get("/info", self.handle_info)
        app.router.add_get("/health", self.handle_health)
        return app

    async def _session_ctx(self, app: web.Application):
        timeout = aiohttp.ClientTimeout(total=self.request_timeout_s, sock_connect=10)
        app[_UPSTREAM] = aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0))
        yield
        await app[_UPSTREAM].close()

    # ------------------------------------------------------------------ core: upstream -> TGI events

    @staticmethod
    def parse_request(body: object) -> tuple[str, dict]:
        if not isinstance(body, dict) or not isinstance(body.get("inputs"), str):
            raise UpstreamError(422, "Failed to deserialize the JSON body: missing field `inputs`", "validation")
        params = body.get("parameters") or {}
        if not isinstance(params, dict):
            raise UpstreamError(422, "`parameters` must be an object", "validation")
        max_new = params.get("max_new_tokens", TGI_DEFAULT_MAX_NEW_TOKENS)
        if not isinstance(max_new, int) or max_new < 1:
            raise UpstreamError(422, "`max_new_tokens` must be strictly positive", "validation")
        temp = params.get("temperature")
        if temp is not None and (not isinstance(temp, (int, float)) or temp <= 0):
            raise UpstreamError(422, "`temperature` must be strictly positive", "validation")
        return body["inputs"], params

    def _upstream_body(self, inputs: str, params: dict, max_new: int) -> dict:
        """llama-server's /completion request for one TGI request."""
        sampling = bool(params.get("do_sample")) and params.get("temperature") is not None
        body = {
            "prompt": inputs, "n_predict": max_new, "stream": True, "return_tokens": True,
            "ignore_eos": self.ignore_eos, "temperature": float(params["temperature"]) if sampling else 0.0,
        }
        if params.get("seed") is not None:
            body["seed"] = params["seed"]
        if params.get("stop"):
            body["stop"] = params["stop"]
        return body

    @contextlib.asynccontextmanager
    async def _upstream_chunks(self, session: aiohttp.ClientSession, body: dict):
        """The upstream's stream as parsed ``data:`` chunks; UpstreamError when it refuses the request."""
        async with session.post(f"{self.upstream}/completion", json=body) as resp:
            if resp.status != 200:
                raise UpstreamError(resp.status if resp.status < 500 else 424,
                                    f"upstream HTTP {resp.status}: {(await resp.text())[:200]}")

            async def chunks() -> AsyncIterator[dict]:
                async for raw in resp.content:
                    line = raw.strip()
                    if line.startswith(b"data:"):
                        yield json.loads(line[5:])

            yield chunks()

    async def events(self, session: aiohttp.ClientSession, inputs: str, params: dict) -> AsyncIterator[dict]:
        """TGI stream events for one request, forwarded as upstream tokens arrive."""
        max_new = params.get("max_new_tokens", TGI_DEFAULT_MAX_NEW_TOKENS)
        count = 0
        text: list[str] = []
        seed = params.get("seed")
        held: int | None = None  # a token without text, held until we know whether it is the EOS

        def details(reason: str) -> dict:
            return {"finish_reason": reason, "generated_tokens": count, "seed": seed}

        async with self._upstream_chunks(session, self._upstream_body(inputs, params, max_new)) as chunks:
            async for chunk in chunks:
                if "error" in chunk:
                    err = chunk["error"]
                    yield {"error": err.get("message", str(err)) if isinstance(err, dict) else str(err),
                           "error_type": "generation"}
                    return
                content = chunk.get("content") or ""
                ids = chunk.get("tokens") or ([-1] if content else [])
                if chunk.get("stop") and chunk.get("stop_type", "eos") == "eos" and not ids:
                    # EOS: llama-server streamed the EOS token (held, no text) just before this chunk;
                    # TGI sends it as the final event, marked special
                    count += 1
                    yield _event(count, held if held is not None else -1, "", True,
                                 generated_text="".join(text), details=details("eos_token"))
                    return
                if held is not None and ids:  # the held token was an ordinary one (e.g. partial UTF-8)
                    count += 1
                    yield _event(count, held, "")
                    held = None
                for k, token_id in enumerate(ids):
                    piece = content if k == len(ids) - 1 else ""
                    if self.fail_after_tokens is not None and count >= self.fail_after_tokens:
                        yield {"error": "Request failed during generation: injected fault", "error_type": "generation"}
                        return
                    if not piece and not self.ignore_eos and count + 1 < max_new and not chunk.get("stop"):
                        held = token_id  # maybe the EOS: decide on the next chunk
                        continue
                    count += 1
                    text.append(piece)
                    if count >= max_new:
                        yield _event(count, token_id, piece, generated_text="".join(text), details=details("length"))
                        return
                    yield _event(count, token_id, piece)
                if chunk.get("stop"):
                    if chunk.get("stop_type", "eos") == "eos":
                        count += 1
                        yield _event(count, held if held is not None else -1, "", True,
                                     generated_text="".join(text), details=details("eos_token"))
                        return
                    if held is not None:
                        count += 1
                        yield _event(count, held, "")
                    reason = "stop_sequence" if chunk.get("stop_type") == "word" else "length"
                    yield {"index": count, "token": None, "generated_text": "".join(text), "details": details(reason)}
                    return
        yield {"error": "upstream stream ended without a stop chunk", "error_type": "generation"}

    # ------------------------------------------------------------------ handlers

    async def handle_generate_stream(self, request: web.Request) -> web.StreamResponse:
        try:
            inputs, params = self.parse_request(await _json(request))
        except UpstreamError as exc:
            return _error(exc)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        started = False
        try:
            async for event in self.events(request.app[_UPSTREAM], inputs, params):
                if not started:
                    await resp.prepare(request)
                    started = True
                await resp.write(b"data:" + json.dumps(event, separators=(",", ":")).encode() + b"\n\n")
        except UpstreamError as exc:
            if not started:
                return _error(exc)
            await resp.write(_sse_error(exc.message))
        except (aiohttp.ClientError, ValueError) as exc:
            if not started:
                return _error(UpstreamError(424, f"upstream failed: {type(exc).__name__}: {exc}"))
            await resp.write(_sse_error(f"upstream failed: {type(exc).__name__}"))
        if not started:
            await resp.prepare(request)
        await resp.write_eof()
        return resp

    async def handle_generate(self, request: web.Request) -> web.Response:
        try:
            inputs, params = self.parse_request(await _json(request))
            answer = await self.generate(request.app[_UPSTREAM], inputs, params)
        except UpstreamError as exc:
            return _error(exc)
        except (aiohttp.ClientError, ValueError) as exc:
            return _error(UpstreamError(424, f"upstream failed: {type(exc).__name__}: {exc}"))
        if "error" in answer:
            return web.json_response(answer, status=424)
        return web.json_response(answer)

    async def generate(self, session: aiohttp.ClientSession, inputs: str, params: dict) -> dict:
        """The non-streamed TGI answer, assembled from the same token events."""
        tokens, final = [], None
        async for event in self.events(session, inputs, params):
            if "error" in event:
                return {"error": event["error"], "error_type": event.get("error_type", "generation")}
            if event.get("token"):
                tokens.append(event["token"])
            if event.get("details"):
                final = event
        if final is None:
            return {"error": "no final event", "error_type": "generation"}
        answer: dict = {"generated_text": final["generated_text"]}
        if params.get("details"):
            answer["details"] = {**final["details"], "prefill": [], "tokens": tokens}
        return answer

    async def handle_info(self, request: web.Request) -> web.Response:
        return web.json_response({"model_id": self.model_id, "version": "deploybench-adapter",
                                  "router": "deploybench-tgi-adapter", "upstream": self.upstream})

    async def handle_health(self, request: web.Request) -> web.Response:
        try:
            async with request.app[_UPSTREAM].get(f"{self.upstream}/health") as resp:
                return web.Response(status=200 if resp.status == 200 else 503)
        except aiohttp.ClientError:
            return web.Response(status=503)


async def _json(request: web.Request) -> object:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise UpstreamError(422, "Failed to parse the request body as JSON", "validation") from None


def _error(exc: UpstreamError) -> web.Response:
    return web.json_response({"error": exc.message, "error_type": exc.error_type}, status=exc.status)


def _sse_error(message: str) -> bytes:
    return b"data:" + json.dumps({"error": message, "error_type": "generation"}).encode() + b"\n\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m deploybench.testing.adapters.tgi", description=__doc__.splitlines()[0])
    ap.add_argument("--upstream", required=True, help="llama-server base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--port", type=int, default=3000)
    ap.add_argument("--no-ignore-eos", action="store_true", help="let the model stop at EOS (like real TGI)")
    args = ap.parse_args(argv)
    adapter = TgiAdapter(args.upstream, ignore_eos=not args.no_ignore_eos)
    print(f"TGI adapter on http://127.0.0.1:{args.port} -> {args.upstream} ({time.strftime('%H:%M:%S')})")
    web.run_app(adapter.app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
