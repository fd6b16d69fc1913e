"""An OpenAI-compatible streaming server with an exact timing script, and fault injection.

Each stream: first token ``ttft_ms`` after the request's first byte arrived, then one token every
``itl_ms``, ``max_tokens`` tokens in all (``tokens_per_chunk`` tokens per SSE chunk). Deadlines are
absolute (no drift), met by a short timer sleep and then cooperative spinning (the event loop's
timers alone overshoot by up to ~1.5 ms). It is a bare asyncio HTTP/1.1 server rather than an
aiohttp app so that the request's arrival is stamped when its first byte is read, not after
framework parsing.

The request's ``model`` field picks a fault: ``fault-http500``, ``fault-drop`` (connection cut
mid-stream), ``fault-malformed`` (a non-JSON event), ``fault-hang`` (never answers),
``fault-nousage`` (no usage chunk), and events that are valid JSON of the wrong shape:
``fault-null-choice`` (``choices: [null]``), ``fault-string-delta``, ``fault-list-usage``.
Other models shape the output: ``reasoning`` (the first half of the tokens stream as
``delta.reasoning_content``, chat only), ``batch-unannounced`` (k tokens per event with nothing
saying so; by default an event with k > 1 tokens carries the running usage count, as vLLM's
``continuous_usage_stats`` does). Run it as ``python -m deploybench.testing.scripted --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import socket
import time

SPIN_NS = 2_000_000
SHAPE_FAULTS = {  # valid JSON, wrong shape
    "fault-null-choice": {"id": "s", "object": "chunk", "choices": [None]},
    "fault-string-delta": {"id": "s", "object": "chunk", "choices": [{"index": 0, "delta": "t"}]},
    "fault-list-usage": {"id": "s", "object": "chunk", "choices": [], "usage": [1, 2]},
}
MODELS = json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}).encode()


async def sleep_until(t_ns: int) -> None:
    """Wait until ``t_ns`` (monotonic) within ~0.1 ms: a timer sleep, then cooperative spinning."""
    delay = (t_ns - SPIN_NS - time.monotonic_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)
    while time.monotonic_ns() < t_ns:
        await asyncio.sleep(0)


def _sse(obj: dict | str) -> bytes:
    data = (obj if isinstance(obj, str) else json.dumps(obj)).encode()
    event = b"data: " + data + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(event), event)


def _reply(status: str, body: bytes, ctype: str = "application/json") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


class Script:
    def __init__(self, ttft_ms: float, itl_ms: float, tokens_per_chunk: int = 1, noise: float = 0.0,
                 seed: int = 0) -> None:
        self.ttft_ns, self.itl_ns, self.k = int(ttft_ms * 1e6), int(itl_ms * 1e6), max(1, tokens_per_chunk)
        self.noise, self.rng = noise, random.Random(seed)
        self.slots: asyncio.Semaphore | None = None  # set by serve(): N requests at a time, the rest queue

    async def admitted(self, transport: asyncio.Transport, t0: int, body: dict, chat: bool) -> None:
        """Stream once a slot is free (like llama-server's --parallel); queueing time counts toward TTFT."""
        if self.slots is None:
            return await self.stream(transport, t0, body, chat)
        async with self.slots:
            await self.stream(transport, max(t0, time.monotonic_ns()), body, chat)

    def _timing(self) -> tuple[int, int]:
        """This request's TTFT and ITL: exact, or scaled by a lognormal factor (``noise`` = its sigma)."""
        if not self.noise:
            return self.ttft_ns, self.itl_ns
        f = self.rng.lognormvariate(0.0, self.noise)
        return int(self.ttft_ns * f), int(self.itl_ns * f)

    async def stream(self, transport: asyncio.Transport, t0: int, body: dict, chat: bool) -> None:
        model, n = str(body.get("model", "")), int(body.get("max_tokens") or 16)
        ttft_ns, itl_ns = self._timing()
        if model == "fault-hang":
            return
        if model == "fault-http500":
            transport.write(_reply("500 Internal Server Error", b'{"error": {"message": "injected failure"}}'))
            return
        transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        while sent < n:
            step = min(self.k, n - sent)
            await sleep_until(t0 + ttft_ns + (sent + step - 1) * itl_ns)  # its last token's due time
            if transport.is_closing():
                return
            if model == "fault-malformed" and sent >= n // 2:
                transport.write(_sse("{not json") + b"0\r\n\r\n")
                return
            if model == "fault-drop" and sent >= n // 2:
                transport.abort()
                return
            if model in SHAPE_FAULTS and sent >= n // 2:
                transport.write(_sse(SHAPE_FAULTS[model]) + b"0\r\n\r\n")
                return
            transport.write(_sse(self._chunk(sent, step, n, chat, model)))
            sent += step
        self._finish(transport, body, n, chat, model)

    def _chunk(self, sent: int, step: int, n: int, chat: bool, model: str) -> dict:
        text = "".join(f" t{sent + j}" for j in range(step))
        key = "reasoning_content" if model == "reasoning" and sent < n // 2 else "content"
        choice = {"index": 0, "delta": {key: text}} if chat else {"index": 0, "text": text}
        event = {"id": "s", "object": "chunk", "choices": [choice]}
        if self.k > 1 and model != "batch-unannounced":
            event["usage"] = {"prompt_tokens": 1, "completion_tokens": sent + step}
        return event

    @staticmethod
    def _finish(transport, body: dict, n: int, chat: bool, model: str) -> None:
        prompt = body.get("prompt") or " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        out = _sse({"choices": [{"index": 0, "delta": {} if chat else None, "text": "", "finish_reason": "length"}]})
        if model != "fault-nousage":
            out += _sse({"choices": [], "usage": {"prompt_tokens": len(str(prompt).split()), "completion_tokens": n}})
        transport.write(out + _sse("[DONE]") + b"0\r\n\r\n")


class Conn(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection; requests are handled one after another."""

    def __init__(self, script: Script) -> None:
        self.script, self.buf, self.t0, self.busy = script, b"", 0, None

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if not self.buf:
            self.t0 = time.monotonic_ns()  # arrival of the request's first byte
        self.buf += data
        self._try_request()

    def _try_request(self) -> None:
        if self.busy is not None and not self.busy.done():
            return
        head, sep, rest = self.buf.partition(b"\r\n\r\n")
        if not sep:
            return
        lines = head.decode("latin-1").split("\r\n")
        method, path = (lines[0].split(" ") + ["", ""])[:2]
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        length = int(headers.get("content-length", 0) or 0)
        if len(rest) < length:
            return
        body, self.buf = rest[:length], rest[length:]
        t0 = self.t0
        if self.buf:
            self.t0 = time.monotonic_ns()
        self.busy = asyncio.ensure_future(self._handle(method, path, body, t0))
        self.busy.add_done_callback(lambda _f: self._try_request())

    async def _handle(self, method: str, path: str, raw: bytes, t0: int) -> None:
        if method == "GET" and path in ("/v1/models", "/health"):
            self.transport.write(_reply("200 OK", MODELS if path == "/v1/models" else b'{"status": "ok"}'))
        elif method == "POST" and path in ("/v1/chat/completions", "/v1/completions"):
            try:
                body = json.loads(raw or b"{}")
            except ValueError:
                self.transport.write(_reply("400 Bad Request", b'{"error": "bad json"}'))
                return
            await self.script.admitted(self.transport, t0, body, chat=path.endswith("chat/completions"))
        else:
            self.transport.write(_reply("404 Not Found", b'{"error": "not found"}'))


async def serve(host: str, port: int, script: Script, slots: int = 0) -> None:
    loop = asyncio.get_running_loop()
    if slots:
        script.slots = asyncio.Semaphore(slots)
    server = await loop.create_server(lambda: Conn(script), host, port, backlog=1024)
    async with server:
        await server.serve_forever()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ttft-ms", type=float, default=50.0)
    ap.add_argument("--itl-ms", type=float, default=10.0)
    ap.add_argument("--tokens-per-chunk", type=int, default=1)
    ap.add_argument("--noise", type=float, default=0.0, help="lognormal sigma scaling each request's timing")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--slots", type=int, default=0, help="serve this many requests at a time; the rest queue (0: all)")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        ap.error("--host must be a loopback address")
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = None
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve(a.host, a.port, Script(a.ttft_ms, a.itl_ms, a.tokens_per_chunk, a.noise, a.seed), a.slots))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
