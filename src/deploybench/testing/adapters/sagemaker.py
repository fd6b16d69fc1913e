"""Serve the SageMaker runtime data plane from a real llama-server, framed as the service does.

``POST /endpoints/{name}/invocations-response-stream`` answers ``200`` with
``Content-Type: application/vnd.amazon.eventstream`` over chunked HTTP; every TGI stream line
(``data:{...}\\n\\n``, as the Hugging Face LLM container writes them) goes out as the payload of
a ``PayloadPart`` event the moment its token arrives. ``split_bytes`` cuts payloads into smaller
parts, as the real service may, so clients must reassemble lines. A mid-stream failure becomes a
``ModelStreamError`` exception message. ``POST /endpoints/{name}/invocations`` gives the
container's non-streamed answer (``[{"generated_text": ...}]``). Unknown endpoint names get the
service's ``ValidationError``; upstream failures before the stream starts, a ``ModelError`` (424).

Point botocore at it with ``endpoint_url`` (any credentials: signatures are not checked).
"""

from __future__ import annotations

import argparse
import json
import uuid

import aiohttp
from aiohttp import web

from ..eventstream import exception_message, payload_part
from .tgi import _UPSTREAM, TgiAdapter, UpstreamError, _json

EVENTSTREAM = "application/vnd.amazon.eventstream"


class SageMakerAdapter:
    def __init__(self, upstream: str, *, endpoint_names: tuple[str, ...] = ("local",), ignore_eos: bool = True,
                 split_bytes: int | None = None, fail_after_tokens: int | None = None,
                 model_id: str = "llama-server") -> None:
        self.tgi = TgiAdapter(upstream, ignore_eos=ignore_eos, model_id=model_id, fail_after_tokens=fail_after_tokens)
        self.endpoint_names = set(endpoint_names)
        self.split_bytes = split_bytes
        self.invocations = 0

    def app(self) -> web.Application:
        app = web.Application()
        app.cleanup_ctx.append(self.tgi._session_ctx)
        app.router.add_post("/endpoints/{name}/invocations-response-stream", self.handle_stream)
        app.router.add_post("/endpoints/{name}/invocations", self.handle_invoke)
        app.router.add_get("/ping", self.handle_ping)
        return app

    def _check(self, request: web.Request) -> web.Response | None:
        name = request.match_info["name"]
        if name not in self.endpoint_names:
            return _aws_error(400, "ValidationError",
                              f"Endpoint {name} of account 123456789012 not found.")
        return None

    def _parts(self, data: bytes) -> list[bytes]:
        if not self.split_bytes:
            return [payload_part(data)]
        n = self.split_bytes
        return [payload_part(data[i:i + n]) for i in range(0, len(data), n)]

    async def handle_stream(self, request: web.Request) -> web.StreamResponse:
        if (bad := self._check(request)) is not None:
            return bad
        self.invocations += 1
        try:
            inputs, params = self.tgi.parse_request(await _json(request))
        except UpstreamError as exc:
            return _model_error(exc.status, exc.message)
        resp = web.StreamResponse(status=200, headers={
            "Content-Type": EVENTSTREAM, "X-Amzn-SageMaker-Content-Type": "application/json",
            "x-Amzn-Invoked-Production-Variant": "AllTraffic", "x-amzn-RequestId": str(uuid.uuid4())})
        resp.enable_chunked_encoding()
        started = False
        try:
            async for event in self.tgi.events(request.app[_UPSTREAM], inputs, params):
                if not started:
                    await resp.prepare(request)
                    started = True
                if "error" in event:
                    await resp.write(_stream_error(event["error"]))
                    break
                line = b"data:" + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"
                for part in self._parts(line):
                    await resp.write(part)
        except (UpstreamError, aiohttp.ClientError, ValueError) as exc:
            if not started:
                return _model_error(getattr(exc, "status", 500), str(exc))
            await resp.write(_stream_error(f"{type(exc).__name__}: {exc}"))
        if not started:
            await resp.prepare(request)
        await resp.write_eof()
        return resp

    async def handle_invoke(self, request: web.Request) -> web.Response:
        if (bad := self._check(request)) is not None:
            return bad
        self.invocations += 1
        try:
            inputs, params = self.tgi.parse_request(await _json(request))
            answer = await self.tgi.generate(request.app[_UPSTREAM], inputs, params)
        except (UpstreamError, aiohttp.ClientError, ValueError) as exc:
            return _model_error(getattr(exc, "status", 500), str(exc))
        if "error" in answer:
            return _model_error(500, answer["error"])
        return web.json_response([answer], headers={"X-Amzn-Invoked-Production-Variant": "AllTraffic"})

    async def handle_ping(self, request: web.Request) -> web.Response:
        return web.Response(text="")


def _aws_error(status: int, code: str, message: str, **extra) -> web.Response:
    return web.json_response({"message": message, **extra}, status=status,
                             headers={"x-amzn-ErrorType": code, "x-amzn-RequestId": str(uuid.uuid4())})


def _model_error(original_status: int, message: str) -> web.Response:
    return _aws_error(424, "ModelError",
                      f"Received server error ({original_status}) from primary with message \"{message[:200]}\".",
                      OriginalStatusCode=original_status, OriginalMessage=message[:200],
                      LogStreamArn="arn:aws:logs:local:123456789012:log-group:/aws/sagemaker/Endpoints/local")


def _stream_error(message: str) -> bytes:
    return exception_message("ModelStreamError", json.dumps({"Message": message[:200], "ErrorCode": "ModelStreamError"}).encode())


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m deploybench.testing.adapters.sagemaker",
                                 description="SageMaker runtime (event-stream) adapter in front of llama-server")
    ap.add_argument("--upstream", required=True, help="llama-server base URL, e.g. http://127.0.0.1:8080")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--endpoint-name", action="append", default=None, help="endpoint name(s) served (default: local)")
    ap.add_argument("--split-bytes", type=int, default=None, help="cut payloads into parts of at most N bytes")
    ap.add_argument("--no-ignore-eos", action="store_true")
    args = ap.parse_args(argv)
    adapter = SageMakerAdapter(args.upstream, endpoint_names=tuple(args.endpoint_name or ["local"]),
                               ignore_eos=not args.no_ignore_eos, split_bytes=args.split_bytes)
    print(f"SageMaker runtime adapter on http://127.0.0.1:{args.port} -> {args.upstream}")
    web.run_app(adapter.app(), host="127.0.0.1", port=args.port, print=None)


if __name__ == "__main__":
    main()
