"""Server-sent events over an aiohttp response, line by line, with arrival timestamps."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp


async def events(resp: aiohttp.ClientResponse) -> AsyncIterator[tuple[int, str]]:
    """Yield ``(monotonic_ns, data)`` for each ``data:`` line as it arrives."""
    async for raw in resp.content:
        now = time.monotonic_ns()
        line = raw.strip()
        if not line or line.startswith(b":"):
            continue
        if line.startswith(b"data:"):
            yield now, line[5:].strip().decode("utf-8", errors="replace")
        elif line.startswith(b"error:"):
            yield now, '{"error": ' + _quote(line[6:].strip().decode("utf-8", errors="replace")) + "}"


def _quote(text: str) -> str:
    import json

    return json.dumps(text)
