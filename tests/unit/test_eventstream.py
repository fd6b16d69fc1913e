"""AWS event-stream framing, line reassembly, and the SageMaker client's thread hand-off."""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import time
import zlib

import pytest

from deploybench.protocols.base import Draft, GenParams, Prompt
from deploybench.protocols.eventstream import Decoder, EventStreamError, LineBuffer, decode_all
from deploybench.testing.eventstream import encode_message, exception_message, payload_part

PAYLOADS = [b'data:{"token":{"id":1,"text":"Hi","special":false}}\n\n', b"", b"\x00\xff" * 300, "é€".encode()]


def test_payload_part_layout_matches_the_spec():
    msg = payload_part(b"abc")
    total, headers_len, prelude_crc = struct.unpack("!III", msg[:12])
    assert total == len(msg)
    assert prelude_crc == zlib.crc32(msg[:8])
    assert struct.unpack("!I", msg[-4:])[0] == zlib.crc32(msg[:-4])
    assert msg[12 + headers_len:-4] == b"abc"
    (m,) = decode_all(msg)
    assert m.headers == {":event-type": "PayloadPart", ":content-type": "application/json", ":message-type": "event"}
    assert m.event_type == "PayloadPart" and m.message_type == "event"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_roundtrip_split_at_every_byte(payload):
    stream = payload_part(payload) + payload_part(payload[::-1])
    for cut in range(len(stream) + 1):
        dec = Decoder()
        msgs = dec.feed(stream[:cut]) + dec.feed(stream[cut:])
        assert [m.payload for m in msgs] == [payload, payload[::-1]]
        assert dec.pending == 0


def test_byte_by_byte_feed():
    stream = b"".join(payload_part(p) for p in PAYLOADS)
    dec = Decoder()
    msgs = [m for i in range(len(stream)) for m in dec.feed(stream[i:i + 1])]
    assert [m.payload for m in msgs] == PAYLOADS


def test_typed_headers_roundtrip():
    import uuid

    u = uuid.uuid4()
    headers = {"s": "x", "t": True, "f": False, "n": -5, "b": b"\x01\x02", "u": u}
    (m,) = decode_all(encode_message(headers, b"p"))
    assert m.headers == headers


def test_corruption_is_detected():
    msg = bytearray(payload_part(b"hello"))
    bad_prelude = bytes(msg[:4]) + b"\x00\x00\x00\x01" + bytes(msg[8:])
    with pytest.raises(EventStreamError, match="prelude CRC"):
        decode_all(bad_prelude)
    msg[-6] ^= 0xFF  # flip a payload byte
    with pytest.raises(EventStreamError, match="message CRC"):
        decode_all(bytes(msg))
    with pytest.raises(EventStreamError, match="trailing"):
        decode_all(payload_part(b"x")[:-1])


def test_botocore_decodes_our_messages():
    botocore = pytest.importorskip("botocore")
    from botocore.eventstream import EventStreamBuffer

    buf = EventStreamBuffer()
    buf.add_data(payload_part(b"one") + exception_message("ModelStreamError", b'{"Message":"boom"}'))
    msgs = list(buf)
    assert msgs[0].headers[":event-type"] == "PayloadPart" and msgs[0].payload == b"one"
    assert msgs[1].headers[":exception-type"] == "ModelStreamError"
    assert botocore is not None


def test_line_buffer_reassembles_split_lines_and_utf8():
    data = 'data:{"a":"é"}\n\ndata:{"b":2}\n'.encode()
    for cut in range(len(data) + 1):
        lb = LineBuffer()
        lines = lb.feed(data[:cut]) + lb.feed(data[cut:]) + lb.flush()
        assert [ln for ln in lines if ln] == ['data:{"a":"é"}', 'data:{"b":2}']
    lb = LineBuffer()
    assert lb.feed(b'{"x":1}') == [] and lb.flush() == ['{"x":1}']


# ------------------------------------------------------------------ SageMaker client, no network


def _tgi_lines(n: int) -> list[bytes]:
    out = []
    for i in range(1, n + 1):
        ev = {"index": i, "token": {"id": i, "text": f" t{i}", "logprob": None, "special": False},
              "generated_text": None, "details": None}
        if i == n:
            ev["generated_text"] = "".join(f" t{k}" for k in range(1, n + 1))
            ev["details"] = {"finish_reason": "length", "generated_tokens": n, "seed": None}
        out.append(b"data:" + json.dumps(ev).encode() + b"\n\n")
    return out


class FakeRuntime:
    """Stands in for botocore's sagemaker-runtime client: a blocking iterator of events."""

    def __init__(self, parts: list[bytes], delay_s: float = 0.0, error: dict | None = None) -> None:
        self.parts, self.delay_s, self.error = parts, delay_s, error
        self.calls: list[dict] = []
        self.threads: set[str] = set()
        self.closed = threading.Event()

    def invoke_endpoint_with_response_stream(self, **kw):
        self.calls.append(kw)
        self.threads.add(threading.current_thread().name)
        fake = self

        class Body:
            def __iter__(self):
                for p in fake.parts:
                    time.sleep(fake.delay_s)  # blocking, like a socket read
                    yield {"PayloadPart": {"Bytes": p}}
                if fake.error:
                    yield fake.error

            def close(self):
                fake.closed.set()

        return {"Body": Body(), "ResponseMetadata": {"HTTPStatusCode": 200}}


def _client(fake):
    from deploybench.protocols.sagemaker import SageMakerClient
    from deploybench.schemas import Endpoint

    ep = Endpoint(url="http://127.0.0.1:1/endpoints/local", protocol="sagemaker-tgi", model="m")
    return SageMakerClient(ep, client=fake, max_workers=4)


async def test_sagemaker_client_reassembles_split_parts_without_blocking_the_loop():
    whole = b"".join(_tgi_lines(5))
    parts = [whole[i:i + 7] for i in range(0, len(whole), 7)]  # lines split across events
    fake = FakeRuntime(parts, delay_s=0.002)
    client = _client(fake)
    ticks = 0

    async def ticker():
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    t = asyncio.create_task(ticker())
    draft = Draft()
    await asyncio.wait_for(client.send(Prompt("p", "hello"), GenParams(max_tokens=5), draft), 10)
    t.cancel()
    client.close()
    assert draft.error is None
    assert draft.output_tokens == 5 and draft.token_source == "usage" and draft.finish_reason == "length"
    assert draft.chunk_tokens == [1] * 5
    assert draft.sent_ns < draft.chunk_ns[0] and draft.chunk_ns == sorted(draft.chunk_ns)
    assert "".join(draft.text_parts) == " t1 t2 t3 t4 t5"
    assert ticks > 10  # the loop kept running while the thread blocked on reads
    assert not any(n.startswith("asyncio") for n in fake.threads)
    body = json.loads(fake.calls[0]["Body"])
    assert body["parameters"] == {"max_new_tokens": 5, "details": True, "do_sample": False} and body["stream"] is True
    assert fake.calls[0]["EndpointName"] == "local"


async def test_sagemaker_client_reports_stream_errors_and_truncation():
    fake = FakeRuntime(_tgi_lines(3)[:2], error={"ModelStreamError": {"Message": "boom", "ErrorCode": "x"}})
    draft = Draft()
    await _client(fake).send(Prompt("p", "x"), GenParams(max_tokens=3), draft)
    assert draft.error and "ModelStreamError" in draft.error and "boom" in draft.error
    fake = FakeRuntime(_tgi_lines(3)[:2])
    draft = Draft()
    await _client(fake).send(Prompt("p", "x"), GenParams(max_tokens=3), draft)
    assert draft.error and "before the final event" in draft.error
    assert len(draft.chunk_ns) == 2


async def test_sagemaker_client_cancellation_closes_the_stream():
    fake = FakeRuntime(_tgi_lines(50), delay_s=0.02)
    draft = Draft()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(_client(fake).send(Prompt("p", "x"), GenParams(max_tokens=50), draft), 0.1)
    assert fake.closed.wait(2), "worker thread did not close the stream after cancellation"


def test_split_url():
    from deploybench.protocols.sagemaker import region_of, runtime_url, split_url
    from deploybench.schemas import ConfigError

    base, name = split_url(runtime_url("eu-west-1") + "/endpoints/my-ep")
    assert name == "my-ep" and region_of(base) == "eu-west-1"
    with pytest.raises(ConfigError):
        split_url("http://127.0.0.1:8080")
