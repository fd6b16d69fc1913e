"""AWS event-stream framing (``application/vnd.amazon.eventstream``), both directions.

Used by the SageMaker streaming protocol (lines inside ``PayloadPart`` events) and by the local
SageMaker-runtime adapter that frames a real server's stream exactly as the service does.

A message is::

    prelude:  total_length (u32 BE) | headers_length (u32 BE) | prelude_crc (CRC32 of the 8 bytes)
    headers:  repeated  name_len (u8) | name (utf-8) | type (u8) | value
    payload:  bytes
    trailer:  message_crc (CRC32 of everything before it)

Only standard-library code: decoding does not need botocore, so it can be unit-tested alone.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any

PRELUDE_LEN = 12
CRC_LEN = 4
MIN_MESSAGE_LEN = PRELUDE_LEN + CRC_LEN
MAX_MESSAGE_LEN = 24 * 1024 * 1024  # the service's limit (16 MiB payload + headers); guards bad input
MAX_HEADERS_LEN = 128 * 1024

# header value types
_TRUE, _FALSE, _BYTE, _SHORT, _INT, _LONG, _BYTES, _STRING, _TIMESTAMP, _UUID = range(10)


class EventStreamError(ValueError):
    """The byte stream is not valid event-stream framing (bad length or CRC, truncated)."""


@dataclass(slots=True)
class Message:
    headers: dict[str, Any] = field(default_factory=dict)
    payload: bytes = b""

    @property
    def event_type(self) -> str | None:
        return self.headers.get(":event-type")

    @property
    def message_type(self) -> str | None:
        return self.headers.get(":message-type")


def _crc(data: bytes, start: int = 0) -> int:
    return zlib.crc32(data, start) & 0xFFFFFFFF


def encode_headers(headers: dict[str, Any]) -> bytes:
    """Encode headers; ``str`` values as strings, ``bytes`` as byte arrays, ``bool``/``int`` typed."""
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        if len(raw_name) > 255:
            raise EventStreamError(f"header name too long: {name[:40]}...")
        out += struct.pack("!B", len(raw_name)) + raw_name
        if isinstance(value, bool):
            out += struct.pack("!B", _TRUE if value else _FALSE)
        elif isinstance(value, int):
            out += struct.pack("!Bq", _LONG, value)
        elif isinstance(value, bytes):
            out += struct.pack("!BH", _BYTES, len(value)) + value
        elif isinstance(value, uuid.UUID):
            out += struct.pack("!B", _UUID) + value.bytes
        else:
            raw = str(value).encode("utf-8")
            out += struct.pack("!BH", _STRING, len(raw)) + raw
    return bytes(out)


def encode_message(headers: dict[str, Any], payload: bytes) -> bytes:
    """One complete event-stream message."""
    raw_headers = encode_headers(headers)
    total = PRELUDE_LEN + len(raw_headers) + len(payload) + CRC_LEN
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", _crc(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack("!I", _crc(body))


def payload_part(data: bytes, content_type: str = "application/json") -> bytes:
    """A SageMaker ``PayloadPart`` event carrying ``data``."""
    return encode_message(
        {":event-type": "PayloadPart", ":content-type": content_type, ":message-type": "event"}, data
    )


def exception_message(exception_type: str, payload: bytes, content_type: str = "application/json") -> bytes:
    """A modeled exception inside the stream (e.g. ``ModelStreamError``)."""
    return encode_message(
        {":exception-type": exception_type, ":content-type": content_type, ":message-type": "exception"}, payload
    )


def _decode_headers(data: bytes) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    i, n = 0, len(data)
    try:
        while i < n:
            name_len = data[i]
            i += 1
            name = data[i:i + name_len].decode("utf-8")
            i += name_len
            kind = data[i]
            i += 1
            if kind == _TRUE:
                value: Any = True
            elif kind == _FALSE:
                value = False
            elif kind == _BYTE:
                value = struct.unpack_from("!b", data, i)[0]
                i += 1
            elif kind == _SHORT:
                value = struct.unpack_from("!h", data, i)[0]
                i += 2
            elif kind == _INT:
                value = struct.unpack_from("!i", data, i)[0]
                i += 4
            elif kind in (_LONG, _TIMESTAMP):
                value = struct.unpack_from("!q", data, i)[0]
                i += 8
            elif kind in (_BYTES, _STRING):
                length = struct.unpack_from("!H", data, i)[0]
                i += 2
                raw = data[i:i + length]
                if len(raw) != length:
                    raise EventStreamError("truncated header value")
                i += length
                value = raw.decode("utf-8") if kind == _STRING else bytes(raw)
            elif kind == _UUID:
                value = uuid.UUID(bytes=bytes(data[i:i + 16]))
                i += 16
            else:
                raise EventStreamError(f"unknown header value type {kind}")
            if i > n:
                raise EventStreamError("truncated header")
            headers[name] = value
    except (struct.error, IndexError, UnicodeDecodeError) as exc:
        raise EventStreamError(f"malformed headers: {exc}") from None
    return headers


class Decoder:
    """Incremental decoder: ``feed(bytes)`` returns the messages completed so far.

    Bytes may arrive split anywhere (inside the prelude, a header, the payload or the CRC).
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Message]:
        self._buf += data
        out: list[Message] = []
        while len(self._buf) >= PRELUDE_LEN:
            total, headers_len, prelude_crc = struct.unpack_from("!III", self._buf, 0)
            if _crc(bytes(self._buf[:8])) != prelude_crc:
                raise EventStreamError("prelude CRC mismatch")
            if total < MIN_MESSAGE_LEN or total > MAX_MESSAGE_LEN or headers_len > min(MAX_HEADERS_LEN, total - MIN_MESSAGE_LEN):
                raise EventStreamError(f"bad message lengths (total {total}, headers {headers_len})")
            if len(self._buf) < total:
                break
            raw = bytes(self._buf[:total])
            del self._buf[:total]
            (message_crc,) = struct.unpack_from("!I", raw, total - CRC_LEN)
            if _crc(raw[:-CRC_LEN]) != message_crc:
                raise EventStreamError("message CRC mismatch")
            headers = _decode_headers(raw[PRELUDE_LEN:PRELUDE_LEN + headers_len])
            out.append(Message(headers, raw[PRELUDE_LEN + headers_len:-CRC_LEN]))
        return out

    @property
    def pending(self) -> int:
        """Bytes buffered that do not form a complete message yet."""
        return len(self._buf)


def decode_all(data: bytes) -> list[Message]:
    """Decode a complete byte string; trailing partial bytes are an error."""
    dec = Decoder()
    msgs = dec.feed(data)
    if dec.pending:
        raise EventStreamError(f"{dec.pending} trailing bytes do not form a message")
    return msgs


class LineBuffer:
    """Reassemble text lines from payload pieces that may split a line (or a UTF-8 character)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[str]:
        self._buf += data
        lines: list[str] = []
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                break
            raw = bytes(self._buf[:nl])
            del self._buf[:nl + 1]
            lines.append(raw.rstrip(b"\r").decode("utf-8", errors="replace"))
        return lines

    def flush(self) -> list[str]:
        """The last line when the stream ended without a newline."""
        if not self._buf:
            return []
        raw = bytes(self._buf)
        self._buf.clear()
        return [raw.rstrip(b"\r").decode("utf-8", errors="replace")]
