"""AWS event-stream framing, writing it: what the local SageMaker-runtime imitation
(:mod:`deploybench.testing.adapters.sagemaker`) and the scripted server send. Reading it is
:mod:`deploybench.protocols.eventstream`, which defines the framing's constants."""

from __future__ import annotations

import struct
import uuid
from typing import Any

from ..protocols.eventstream import (CRC_LEN, PRELUDE_LEN, TYPE_BYTES, TYPE_FALSE, TYPE_LONG, TYPE_STRING, TYPE_TRUE,
                                     TYPE_UUID, EventStreamError, crc)


def encode_headers(headers: dict[str, Any]) -> bytes:
    """Encode headers; ``str`` values as strings, ``bytes`` as byte arrays, ``bool``/``int`` typed."""
    out = bytearray()
    for name, value in headers.items():
        raw_name = name.encode("utf-8")
        if len(raw_name) > 255:
            raise EventStreamError(f"header name too long: {name[:40]}...")
        out += struct.pack("!B", len(raw_name)) + raw_name
        if isinstance(value, bool):
            out += struct.pack("!B", TYPE_TRUE if value else TYPE_FALSE)
        elif isinstance(value, int):
            out += struct.pack("!Bq", TYPE_LONG, value)
        elif isinstance(value, bytes):
            out += struct.pack("!BH", TYPE_BYTES, len(value)) + value
        elif isinstance(value, uuid.UUID):
            out += struct.pack("!B", TYPE_UUID) + value.bytes
        else:
            raw = str(value).encode("utf-8")
            out += struct.pack("!BH", TYPE_STRING, len(raw)) + raw
    return bytes(out)


def encode_message(headers: dict[str, Any], payload: bytes) -> bytes:
    """One complete event-stream message."""
    raw_headers = encode_headers(headers)
    total = PRELUDE_LEN + len(raw_headers) + len(payload) + CRC_LEN
    prelude = struct.pack("!II", total, len(raw_headers))
    prelude += struct.pack("!I", crc(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack("!I", crc(body))


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
