"""Server-side view: scrape the engine's Prometheus ``/metrics`` at a fixed interval during a cell.

Kept series: those under the prefixes the engine plugins declare (``metric_prefixes``: llama.cpp
``llamacpp:*``, vLLM ``vllm:*``, TGI ``tgi_*``, ...), gauges and counters — queue length, running/deferred requests, batch size / slot occupancy, KV-cache use,
tokens processed. Each scrape is stored as ``{"t_ns": monotonic_ns, "values": {series: value}}``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

from ..schemas.plugins import server_series

SKIP_SUFFIXES = ("_bucket", "_created")


def parse(text: str) -> dict[str, float]:
    """Prometheus text exposition -> ``{series: value}`` for the engines' own series."""
    out: dict[str, float] = {}
    prefixes = server_series()[2]
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, TypeError):
        return out
    for fam in families:
        for sample in fam.samples:
            name = sample.name
            if not prefixes or not name.startswith(prefixes) or name.endswith(SKIP_SUFFIXES):
                continue
            labels = {k: v for k, v in sample.labels.items() if k not in ("model_name", "engine")}
            key = name + ("{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}" if labels else "")
            out[key] = float(sample.value)
    return out


async def scrape_loop(session: aiohttp.ClientSession, url: str, interval_s: float,
                      sink: Callable[[dict], None], stop: asyncio.Event, headers: dict | None = None) -> int:
    """Scrape until ``stop`` is set; returns the number of scrapes stored. Failures are skipped."""
    n = 0
    while not stop.is_set():
        t = time.monotonic_ns()
        try:
            async with session.get(url, headers=headers or {}, timeout=aiohttp.ClientTimeout(total=2)) as r:
                if r.status == 200:
                    values = parse(await r.text())
                    if values:
                        sink({"t_ns": t, "values": values})
                        n += 1
        except (aiohttp.ClientError, asyncio.TimeoutError, UnicodeDecodeError):
            pass
        try:
            async with asyncio.timeout(interval_s):
                await stop.wait()
        except TimeoutError:
            continue
    return n
