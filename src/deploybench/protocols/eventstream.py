"""AWS event-stream framing (``application/vnd.amazon.eventstream``): reading it.

Used by the SageMaker streaming protocol (lines inside ``PayloadPart`` events). The encoder, for the
local SageMaker-runtime imitation that frames a real server's stream exactly as the service does,
is :mod:`deploybench.testing.eventstream`.

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

# header value types (the wire's numbers)
TYPE_TRUE, TYPE_FALSE, TYPE_BYTE, TYPE_SHORT, TYPE_INT, TYPE_LONG, TYPE_BYTES, TYPE_STRING, TYPE_TIMESTAMP, TYPE_UUID = range(10)


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


def crc(data: bytes, start: int = 0) -> int:
    return zlib.crc32(data, start) & 0xFFFFFFFF


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
            if kind == TYPE_TRUE:
                value: Any = True
            elif kind == TYPE_FALSE:
                value = False
            elif kind == TYPE_BYTE:
                value = struct.unpack_from("!b", data, i)[0]
                i += 1
            elif kind == TYPE_SHORT:
                value = struct.unpack_from("!h", data, i)[0]
                i += 2
            elif kind == TYPE_INT:
                value = struct.unpack_from("!i", data, i)[0]
                i += 4
            elif kind in (TYPE_LONG, TYPE_TIMESTAMP):
                value = struct.unpack_from("!q", data, i)[0]
                i += 8
            elif kind in (TYPE_BYTES, TYPE_STRING):
                length = struct.unpack_from("!H", data, i)[0]
                i += 2
                raw = data[i:i + length]
                if len(raw) != length:
                    raise EventStreamError("truncated header value")
                i += length
                value = raw.decode("utf-8") if kind == TYPE_STRING else bytes(raw)
            elif kind == TYPE_UUID:
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
            if crc(bytes(self._buf[:8])) != prelude_crc:
                raise EventStreamError("prelude CRC mismatch")
            if total < MIN_MESSAGE_LEN or total > MAX_MESSAGE_LEN or headers_len > min(MAX_HEADERS_LEN, total - MIN_MESSAGE_LEN):
                raise EventStreamError(f"bad message lengths (total {total}, headers {headers_len})")
            if len(self._buf) < total:
                break
            raw = bytes(self._buf[:total])
            del self._buf[:total]
            (message_crc,) = struct.unpack_from("!I", raw, total - CRC_LEN)
            if crc(raw[:-CRC_LEN]) != message_crc:
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
