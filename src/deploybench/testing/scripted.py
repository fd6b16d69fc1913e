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
``fault-null-choice`` (``choices: [null]``), ``fault-string-delta``, ``fault-list-usage``; and
faults a real deployment shows under stress: ``fault-429`` (HTTP 429 with ``Retry-After: 1``),
``fault-stall`` (half the tokens, then silence with the connection open), ``fault-reset`` (half
the tokens, then a TCP reset), ``fault-slow-first`` (the response starts ``SLOW_FIRST_NS`` late),
``fault-close`` (the request is read, then the connection closed without an answer), and
``fault-mix`` (requests cycle through: fine, 429, stall, reset, slow first byte); and hostile answers
(:data:`HOSTILE`): ``fault-endless-line`` (an SSE line of 50 MB that never ends), ``fault-huge-event``
(one 10 MB event), ``fault-bad-utf8``, ``fault-many-headers`` (10,000 header lines),
``fault-trickle`` (one byte every 5 s), ``fault-content-length`` (a Content-Length that lies),
``fault-redirect`` (a redirect loop); ``--models-html`` makes ``GET /v1/models`` answer an HTML page.
``GET /stats`` says how many generation requests the server has read (``received``), its ``pid``, its
speed now and when its drift schedule started (``speed``, ``drift_t0_ns``, monotonic clock);
``GET /timings`` lists, per streamed request, ``[read_ns, due_ns, written_ns]``: when the request's
first byte was read, when its first token was due and when its write began (monotonic clock, shared
with a client on the same host), so a benchmark tells a late server from a slow client; and, per
OpenAI stream that ended whole, ``last_token``: ``[read_ns, written_ns]`` of its last token's event.
``--spin-ms 0`` waits with timers alone (about 1 ms late, but the CPU is left to the client).
``--drop-reused`` resets the second request of every connection before reading it (a stale
keep-alive connection: never counted); ``--exit-after N`` kills the server at its Nth request.
TGI mode: ``POST /generate_stream`` streams TGI's token events (the last one with
``generated_text`` and ``details``); SageMaker mode: ``POST /endpoints/<name>/invocations-response-stream``
streams the same lines framed as AWS event-stream ``PayloadPart`` messages. ``--tail-ms`` holds
every stream open that long after its final event.
Other models shape the output: ``reasoning`` (the first half of the tokens stream as
``delta.reasoning_content``, chat only), ``batch-unannounced`` (k tokens per event with nothing
saying so; by default an event with k > 1 tokens carries the running usage count, as vLLM's
``continuous_usage_stats`` does), ``scale-<f>`` (every delay times f: one server, two deployments
f apart). ``--drift "1.0:3s,0.6:2s"`` makes the host's speed drift (every delay divided by the speed
at the request's start; the schedule repeats from server start). Run it as ``python -m deploybench.testing.scripted --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import itertools
import json
import os
import random
import socket
import struct
import time

from .. import _clock
from .eventstream import payload_part


SPIN_NS = 2_000_000
SHAPE_FAULTS = {  # valid JSON, wrong shape
    "fault-null-choice": {"id": "s", "object": "chunk", "choices": [None]},
    "fault-string-delta": {"id": "s", "object": "chunk", "choices": [{"index": 0, "delta": "t"}]},
    "fault-list-usage": {"id": "s", "object": "chunk", "choices": [], "usage": [1, 2]},
}
SLOW_FIRST_NS = 1_500_000_000
MIX = ("", "fault-429", "fault-stall", "fault-reset", "fault-slow-first")
TGI_PATH, SAGEMAKER_SUFFIX = "/generate_stream", "/invocations-response-stream"
MODELS = json.dumps({"object": "list", "data": [{"id": "scripted", "object": "model"}]}).encode()


TIMINGS_KEPT = 200_000  # first-token timings kept for GET /timings (the oldest are dropped)


def _sse(obj: dict | str) -> bytes:
    data = (obj if isinstance(obj, str) else json.dumps(obj)).encode()
    event = b"data: " + data + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(event), event)


def _reply(status: str, body: bytes, ctype: str = "application/json", extra: str = "") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {len(body)}\r\n{extra}\r\n").encode() + body


def _reset(transport: asyncio.Transport) -> None:
    """Close with a TCP reset (SO_LINGER 0), as a crashed or overloaded server's kernel does."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


def _tgi_line(i: int, n: int, prompt: str) -> bytes:
    """TGI's event for token i of n (the last one carries generated_text and details)."""
    last = i == n - 1
    event = {"index": i + 1, "token": {"id": 1000 + i, "text": f" t{i}", "logprob": -0.1, "special": False},
             "generated_text": "".join(f" t{j}" for j in range(n)) if last else None,
             "details": {"finish_reason": "length", "generated_tokens": n, "seed": None,
                         "input_length": len(prompt.split())} if last else None}
    return b"data:" + json.dumps(event).encode() + b"\n\n"


# --------------------------------------------------------------------------- hostile servers
# Answers a client must survive with bounded memory, each ending the request as an error of a named kind.

SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")


async def _paced(transport: asyncio.Transport, data: bytes) -> bool:
    """Write, waiting while the client has not read 1 MiB of what was sent (False: it went away)."""
    while transport.get_write_buffer_size() > (1 << 20):
        if transport.is_closing():
            return False
        await asyncio.sleep(0.005)
    if transport.is_closing():
        return False
    transport.write(data)
    return True


async def _endless_line(transport: asyncio.Transport) -> None:
    """``fault-endless-line``: an SSE line that never ends (50 MB, no newline), then the connection closes."""
    transport.write(SSE_HEAD + _chunk(b"data: "))
    piece = _chunk(b"x" * 65536)
    for _ in range(50 * 16):
        if not await _paced(transport, piece):
            return
    transport.close()


async def _huge_event(transport: asyncio.Transport) -> None:
    """``fault-huge-event``: one 10 MB event."""
    event = {"id": "s", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "x" * 10_000_000}}]}
    data = b"data: " + json.dumps(event).encode() + b"\n\n"
    transport.write(SSE_HEAD)
    for i in range(0, len(data), 65536):
        if not await _paced(transport, _chunk(data[i:i + 65536])):
            return
    transport.write(_chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")


async def _bad_utf8(transport: asyncio.Transport) -> None:
    """``fault-bad-utf8``: an event whose bytes are not UTF-8."""
    transport.write(SSE_HEAD + _chunk(b'data: {"choices": [{"index": 0, "delta": {"content": "\xff\xfe\xc3"}}]}\n\n')
                    + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")


async def _many_headers(transport: asyncio.Transport) -> None:
    """``fault-many-headers``: 10,000 response header lines before an ordinary stream."""
    pad = b"".join(b"X-Pad-%d: %d\r\n" % (i, i) for i in range(10_000))
    transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n" + pad +
                    b"Transfer-Encoding: chunked\r\n\r\n" + _chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")


async def _trickle(transport: asyncio.Transport) -> None:
    """``fault-trickle``: one byte every 5 s, never a whole event (until the client gives up)."""
    transport.write(SSE_HEAD)
    for byte in itertools.cycle(b"data: {"):
        if transport.is_closing():
            return
        transport.write(_chunk(bytes([byte])))
        await asyncio.sleep(5)


async def _lying_length(transport: asyncio.Transport) -> None:
    """``fault-content-length``: ``Content-Length`` promises 1 MB, one event comes, the connection closes."""
    transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 1000000\r\n\r\n"
                    b'data: {"choices": [{"index": 0, "delta": {"content": "t"}}]}\n\n')
    await asyncio.sleep(0.05)
    transport.close()


async def _redirect(transport: asyncio.Transport) -> None:
    """``fault-redirect``: a redirect to the same address, for ever (a client that follows it loops)."""
    transport.write(_reply("307 Temporary Redirect", b"", extra="Location: /v1/chat/completions\r\n"))


HOSTILE = {"fault-endless-line": _endless_line, "fault-huge-event": _huge_event, "fault-bad-utf8": _bad_utf8,
           "fault-many-headers": _many_headers, "fault-trickle": _trickle, "fault-content-length": _lying_length,
           "fault-redirect": _redirect}
MODELS_HTML = b"<!doctype html><html><body><h1>Welcome</h1></body></html>"


def parse_drift(text: str) -> list[tuple[float, int]]:
    """``"1.0:3s,0.6:2s"`` -> [(1.0, 3e9 ns), (0.6, 2e9 ns)]: a host's speed over time (0.6: delays / 0.6)."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        factor, _, secs = part.partition(":")
        speed, dur = float(factor), float(secs.rstrip("s"))
        if speed <= 0 or dur <= 0:
            raise ValueError(f"--drift: '{part}' needs a speed > 0 and a duration > 0, e.g. 0.6:2s")
        out.append((speed, int(dur * 1e9)))
    return out


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class Script:
    def __init__(self, ttft_ms: float, itl_ms: float, tokens_per_chunk: int = 1, noise: float = 0.0,
                 seed: int = 0) -> None:
        self.ttft_ns, self.itl_ns, self.k = int(ttft_ms * 1e6), int(itl_ms * 1e6), max(1, tokens_per_chunk)
        self.noise, self.rng = noise, random.Random(seed)
        self.slots: asyncio.Semaphore | None = None  # set by serve(): N requests at a time, the rest queue
        self.received = 0  # generation requests read (GET /stats)
        self.exit_after = 0  # > 0: the process exits at that request (a server dying mid-level)
        self.drop_reused = False  # reset every connection's second request before reading it
        self.tail_ns = 0  # how long a stream stays open after its final event
        self.spin_ns = SPIN_NS  # deadlines: timer sleep, then spinning this long (0: timers alone)
        self.timings: collections.deque = collections.deque(maxlen=TIMINGS_KEPT)  # [read, due, written]
        self.last_timings: collections.deque = collections.deque(maxlen=TIMINGS_KEPT)  # [read, last written]
        self._mix = itertools.count()
        self.drift: list[tuple[float, int]] = []  # (speed, ns) steps, repeating from t_start (parse_drift)
        self.models_html = False  # GET /v1/models answers an HTML page
        self.t_start = time.monotonic_ns()

    async def admitted(self, transport: asyncio.Transport, t0: int, body: dict, chat: bool) -> None:
        """Stream once a slot is free (like llama-server's --parallel); queueing time counts toward TTFT."""
        if self.slots is None:
            return await self.stream(transport, t0, body, chat)
        async with self.slots:
            await self.stream(transport, max(t0, time.monotonic_ns()), body, chat)

    async def sleep_until(self, t_ns: int) -> None:
        """Wait until ``t_ns`` (monotonic): within ~0.1 ms spinning the last ``spin_ns``, else a timer's ~1 ms."""
        await _clock.sleep_until(t_ns, self.spin_ns)

    def speed(self, now_ns: int | None = None) -> float:
        """The host's speed now under ``drift`` (1.0 without): the schedule repeats from server start."""
        if not self.drift:
            return 1.0
        period = sum(ns for _, ns in self.drift)
        t = ((now_ns or time.monotonic_ns()) - self.t_start) % period
        for factor, ns in self.drift:
            if t < ns:
                return factor
            t -= ns
        return self.drift[-1][0]

    def _timing(self, model: str = "") -> tuple[int, int]:
        """This request's TTFT and ITL: exact, or scaled by a lognormal factor (``noise`` = its sigma), by
        the model's own scale (``scale-1.15``: 15 % slower) and divided by the drift's speed at its start."""
        f = self.rng.lognormvariate(0.0, self.noise) if self.noise else 1.0
        if model.startswith("scale-"):
            try:
                f *= float(model[len("scale-"):])
            except ValueError:
                pass
        f /= self.speed()
        if f == 1.0:
            return self.ttft_ns, self.itl_ns
        return int(self.ttft_ns * f), int(self.itl_ns * f)

    async def stream(self, transport: asyncio.Transport, t0: int, body: dict, chat: bool) -> None:
        model, n = str(body.get("model", "")), int(body.get("max_tokens") or 16)
        ttft_ns, itl_ns = self._timing(model)
        if model in HOSTILE:
            return await HOSTILE[model](transport)
        if model == "fault-mix":
            model = MIX[next(self._mix) % len(MIX)]
        if model == "fault-hang":
            return
        if model == "fault-close":
            transport.close()
            return
        if model == "fault-http500":
            transport.write(_reply("500 Internal Server Error", b'{"error": {"message": "injected failure"}}'))
            return
        if model == "fault-429":
            transport.write(_reply("429 Too Many Requests", b'{"error": {"message": "rate limited"}}',
                                   extra="Retry-After: 1\r\n"))
            return
        if model == "fault-slow-first":
            await self.sleep_until(t0 + SLOW_FIRST_NS)
            if transport.is_closing():
                return
            t0 = time.monotonic_ns()
        transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                        b"Transfer-Encoding: chunked\r\n\r\n")
        sent = 0
        while sent < n:
            step = min(self.k, n - sent)
            await self.sleep_until(t0 + ttft_ns + (sent + step - 1) * itl_ns)  # its last token's due time
            if transport.is_closing():
                return
            if model == "fault-malformed" and sent >= n // 2:
                transport.write(_sse("{not json") + b"0\r\n\r\n")
                return
            if model == "fault-drop" and sent >= n // 2:
                transport.abort()
                return
            if model == "fault-reset" and sent >= n // 2:
                _reset(transport)
                return
            if model == "fault-stall" and sent >= n // 2:
                return  # the connection stays open, silent
            if model in SHAPE_FAULTS and sent >= n // 2:
                transport.write(_sse(SHAPE_FAULTS[model]) + b"0\r\n\r\n")
                return
            if not sent:  # stamped as the write starts (a client on another core may read it before it returns)
                self.timings.append((t0, t0 + ttft_ns + (step - 1) * itl_ns, time.monotonic_ns()))
            last = time.monotonic_ns()
            transport.write(_sse(self._chunk(sent, step, n, chat, model)))
            sent += step
        if n:
            self.last_timings.append((t0, last))
        self._finish(transport, body, n, chat, model, self.tail_ns)

    async def stream_tgi(self, transport: asyncio.Transport, t0: int, body: dict, sagemaker: bool) -> None:
        """TGI's /generate_stream (or SageMaker's event stream of the same lines): one event per token."""
        params = body.get("parameters") or {}
        n, prompt = int(params.get("max_new_tokens") or 20), str(body.get("inputs", ""))
        ttft_ns, itl_ns = self._timing(str(body.get("model", "")))
        ctype = "application/vnd.amazon.eventstream" if sagemaker else "text/event-stream"
        transport.write(f"HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        for i in range(n):
            await self.sleep_until(t0 + ttft_ns + i * itl_ns)
            if transport.is_closing():
                return
            line = _tgi_line(i, n, prompt)
            if not i:
                self.timings.append((t0, t0 + ttft_ns, time.monotonic_ns()))
            transport.write(_chunk(payload_part(line) if sagemaker else line))
        if self.tail_ns:
            await asyncio.sleep(self.tail_ns / 1e9)
        if not transport.is_closing():
            transport.write(b"0\r\n\r\n")

    def _chunk(self, sent: int, step: int, n: int, chat: bool, model: str) -> dict:
        text = "".join(f" t{sent + j}" for j in range(step))
        key = "reasoning_content" if model == "reasoning" and sent < n // 2 else "content"
        choice = {"index": 0, "delta": {key: text}} if chat else {"index": 0, "text": text}
        event = {"id": "s", "object": "chunk", "choices": [choice]}
        if self.k > 1 and model != "batch-unannounced":
            event["usage"] = {"prompt_tokens": 1, "completion_tokens": sent + step}
        return event

    @staticmethod
    def _finish(transport, body: dict, n: int, chat: bool, model: str, tail_ns: int = 0) -> None:
        prompt = body.get("prompt") or " ".join(str(m.get("content", "")) for m in body.get("messages", []))
        out = _sse({"choices": [{"index": 0, "delta": {} if chat else None, "text": "", "finish_reason": "length"}]})
        if model != "fault-nousage":
            out += _sse({"choices": [], "usage": {"prompt_tokens": len(str(prompt).split()), "completion_tokens": n}})
        transport.write(out + _sse("[DONE]"))
        if not tail_ns:
            transport.write(b"0\r\n\r\n")
            return
        asyncio.get_running_loop().call_later(
            tail_ns / 1e9, lambda: None if transport.is_closing() else transport.write(b"0\r\n\r\n"))


class Conn(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection; requests are handled one after another."""

    def __init__(self, script: Script) -> None:
        self.script, self.buf, self.t0, self.busy = script, b"", 0, None
        self.requests = 0  # requests read on this connection

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data: bytes) -> None:
        if self.script.drop_reused and self.requests == 1 and not self.buf:
            _reset(self.transport)  # a stale keep-alive connection: the request is never read
            return
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
        self.requests += 1
        t0 = self.t0
        if self.buf:
            self.t0 = time.monotonic_ns()
        self.busy = asyncio.ensure_future(self._handle(method, path, body, t0))
        self.busy.add_done_callback(lambda _f: self._try_request())

    async def _handle(self, method: str, path: str, raw: bytes, t0: int) -> None:
        script = self.script
        if method == "GET" and path in ("/v1/models", "/health", "/stats", "/timings"):
            stats = json.dumps({"received": script.received, "pid": os.getpid(), "drift_t0_ns": script.t_start,
                                "speed": script.speed()}).encode()
            body = {"/v1/models": MODELS, "/stats": stats}.get(path, b'{"status": "ok"}')
            if path == "/timings":
                body = json.dumps({"first_token": list(script.timings),
                                   "last_token": list(script.last_timings)}).encode()
            if path == "/v1/models" and script.models_html:
                self.transport.write(_reply("200 OK", MODELS_HTML, "text/html"))
                return
            self.transport.write(_reply("200 OK", body))
            return
        generate = path in ("/v1/chat/completions", "/v1/completions", TGI_PATH) or path.endswith(SAGEMAKER_SUFFIX)
        if method != "POST" or not generate:
            self.transport.write(_reply("404 Not Found", b'{"error": "not found"}'))
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self.transport.write(_reply("400 Bad Request", b'{"error": "bad json"}'))
            return
        script.received += 1
        if script.exit_after and script.received >= script.exit_after:
            os._exit(3)  # a server dying mid-level: no answer, every connection dropped
        if path.startswith("/v1/"):
            await script.admitted(self.transport, t0, body, chat=path.endswith("chat/completions"))
        else:
            await script.stream_tgi(self.transport, t0, body, sagemaker=path != TGI_PATH)


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
    ap.add_argument("--exit-after", type=int, default=0, help="exit (code 3) at this generation request (0: never)")
    ap.add_argument("--drop-reused", action="store_true", help="reset each connection's second request unread")
    ap.add_argument("--spin-ms", type=float, default=SPIN_NS / 1e6,
                    help="spin this long before each deadline (0: timers alone, leaving the CPU to the client)")
    ap.add_argument("--uvloop", action="store_true", help="run on uvloop (less CPU, less exact timers)")
    ap.add_argument("--tail-ms", type=float, default=0.0, help="hold each stream open this long after its end")
    ap.add_argument("--models-html", action="store_true", help="GET /v1/models answers an HTML page")
    ap.add_argument("--drift", default="", help='a host whose speed drifts, e.g. "1.0:3s,0.6:2s" (repeating from '
                    "server start; every delay is divided by the speed)")
    a = ap.parse_args()
    if a.host not in ("127.0.0.1", "::1", "localhost"):
        ap.error("--host must be a loopback address")
    factory = None  # the stdlib loop: its timers keep the schedule (on uvloop, TTFT p50 ran ~2 ms late at 32 streams)
    if a.uvloop:
        import uvloop

        factory = uvloop.new_event_loop
    script = Script(a.ttft_ms, a.itl_ms, a.tokens_per_chunk, a.noise, a.seed)
    script.exit_after, script.drop_reused, script.tail_ns = a.exit_after, a.drop_reused, int(a.tail_ms * 1e6)
    script.spin_ns = int(a.spin_ms * 1e6)
    try:
        script.drift = parse_drift(a.drift)
    except ValueError as exc:
        ap.error(str(exc))
    script.t_start = time.monotonic_ns()
    script.models_html = a.models_html
    try:
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(serve(a.host, a.port, script, a.slots))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
