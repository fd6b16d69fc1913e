"""Start a scripted server in a child process (its own event loop, like a real server)."""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from ..engines import process


@contextlib.contextmanager
def scripted_server(ttft_ms: float = 50.0, itl_ms: float = 10.0, tokens_per_chunk: int = 1,
                    timeout_s: float = 20.0, noise: float = 0.0, seed: int = 0, slots: int = 0,
                    exit_after: int = 0, drop_reused: bool = False, tail_ms: float = 0.0,
                    spin_ms: float = 2.0, drift: str = "", models_html: bool = False) -> Iterator[str]:
    """Yields the base URL of a running scripted server; always stops it (see ``scripted`` for the options)."""
    port = process.free_port()
    log = Path(tempfile.mkdtemp(prefix="deploybench-scripted-")) / "server.log"
    argv = [sys.executable, "-m", "deploybench.testing.scripted", "--port", str(port),
            "--ttft-ms", str(ttft_ms), "--itl-ms", str(itl_ms), "--tokens-per-chunk", str(tokens_per_chunk),
            "--noise", str(noise), "--seed", str(seed), "--slots", str(slots),
            "--exit-after", str(exit_after), "--tail-ms", str(tail_ms), "--spin-ms", str(spin_ms), "--drift", drift] + (["--drop-reused"] if drop_reused else []) + (
            ["--models-html"] if models_html else [])
    proc = process.spawn(argv, log)
    url = f"http://127.0.0.1:{port}"
    try:
        def up() -> bool:
            try:
                with urllib.request.urlopen(url + "/health", timeout=1) as r:
                    return r.status == 200
            except OSError:
                return False

        if not process.wait_until(up, timeout_s, 0.05, lambda: proc.poll() is None):
            raise RuntimeError(f"scripted server did not start: {process.tail(log)}")
        yield url
    finally:
        process.stop(proc)
        time.sleep(0)


def stats(url: str) -> dict:
    """The scripted server's ``/stats``: generation requests it has read (``received``), its ``pid``."""
    with urllib.request.urlopen(url + "/stats", timeout=2) as r:
        return json.loads(r.read())


def received(url: str) -> int:
    """How many generation requests the scripted server at ``url`` has read."""
    return stats(url)["received"]


def last_token_timings(url: str) -> list[tuple[int, int]]:
    """The scripted server's ``/timings`` ``last_token``: per OpenAI stream that ended whole
    ``(read_ns, written_ns)``, when its first byte was read and its last token's write began."""
    with urllib.request.urlopen(url + "/timings", timeout=10) as r:
        return [tuple(t) for t in json.loads(r.read())["last_token"]]


def first_token_timings(url: str) -> list[tuple[int, int, int]]:
    """The scripted server's ``/timings``: per streamed request ``(read_ns, due_ns, written_ns)``, the
    moments its first byte was read, its first token was due and was written (monotonic, this host)."""
    with urllib.request.urlopen(url + "/timings", timeout=10) as r:
        return [tuple(t) for t in json.loads(r.read())["first_token"]]
