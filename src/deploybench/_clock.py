"""Waiting for a monotonic deadline more precisely than the event loop's timers (stdlib only)."""

from __future__ import annotations

import asyncio
import time


async def sleep_until(t_ns: int, spin_ns: int = 500_000) -> None:
    """Wait until ``t_ns`` (``time.monotonic_ns``): a timer sleep, then cooperative spinning for the
    last ``spin_ns`` (event-loop timers alone overshoot by up to ~1.5 ms)."""
    delay = (t_ns - spin_ns - time.monotonic_ns()) / 1e9
    if delay > 0:
        await asyncio.sleep(delay)
    while time.monotonic_ns() < t_ns:
        await asyncio.sleep(0)
