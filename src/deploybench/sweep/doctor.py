"""How much load can this client drive on this host? (``deploybench doctor``, and ``run``'s pre-flight.)

Drives the bundled scripted server (``deploybench.testing``, loopback only) with closed-loop streams
for a few seconds, through the same load path a study uses, and reports what the client kept up:
streamed tokens/s against the server's theoretical rate, schedule lag, and how much the client
added to TTFT (the measured TTFT p50 error less the server's own first-token lateness, which the
scripted server reports). The client **holds** a load when it streams >= ``HOLD_SHARE`` of the
theoretical rate and adds <= ``HOLD_TTFT_MS`` to TTFT p50; its **ceiling** is the streams' worth of
tokens it delivered (the load itself when it held).

The pre-flight drives twice a study's planned peak: a study whose peak is more than half of the
ceiling is warned about before anything starts. Peaks of ``PREFLIGHT_MIN_STREAMS`` or fewer skip it.
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import storage
from ..engines import ExternalEngine
from ..schemas import Deployment, LoadConfig, RunConfig, SyntheticWorkload, Workload
from ..testing.servers import first_token_timings, scripted_server
from ..workloads import load_prompts
from .runner import run_deployment

HOLD_SHARE = 0.9  # of the scripted server's theoretical token rate
HOLD_TTFT_MS = 5.0  # the most the client may add to TTFT p50
PREFLIGHT_MIN_STREAMS = 64  # planned peaks at or below this skip the pre-flight
TTFT_MS, ITL_MS, TOKENS = 50.0, 20.0, 32  # the scripted server's schedule


@dataclass
class Check:
    """What the client did at one load against the scripted server."""

    streams: int
    seconds: float
    workers: int | str
    tok_s: float
    theory_tok_s: float
    lag_p50_ms: float | None
    lag_p99_ms: float | None
    ttft_error_ms: float | None  # measured TTFT p50 - scripted TTFT
    server_late_ms: float | None  # the server's own first-token lateness (p50)
    errors: int

    @property
    def share(self) -> float:
        return self.tok_s / self.theory_tok_s if self.theory_tok_s else 0.0

    @property
    def client_ttft_ms(self) -> float | None:
        """What the client added to TTFT p50: the error less the server's own lateness."""
        if self.ttft_error_ms is None:
            return None
        return self.ttft_error_ms - (self.server_late_ms or 0.0)

    @property
    def holds(self) -> bool:
        added = self.client_ttft_ms
        return self.errors == 0 and self.share >= HOLD_SHARE and added is not None and added <= HOLD_TTFT_MS

    @property
    def ceiling_streams(self) -> int:
        """The load itself when it held, else the streams' worth of tokens it delivered."""
        return self.streams if self.holds else int(self.streams * min(self.share, 1.0))

    def line(self) -> str:
        lag = "—" if self.lag_p50_ms is None else f"{self.lag_p50_ms:.1f}/{self.lag_p99_ms:.1f} ms"
        added = "—" if self.client_ttft_ms is None else f"{self.client_ttft_ms:+.1f} ms"
        return (f"{self.streams} streams (workers {self.workers}), {self.seconds:g} s: {self.tok_s:,.0f} tok/s = "
                f"{self.share:.0%} of the scripted server's {self.theory_tok_s:,.0f}; lag p50/p99 {lag}; "
                f"client adds {added} to TTFT p50; {'holds' if self.holds else 'falls behind'}")


def theory_tok_s(streams: int, ttft_ms: float = TTFT_MS, itl_ms: float = ITL_MS, tokens: int = TOKENS) -> float:
    """What an infinitely fast client streams from the scripted server: every stream always busy."""
    return streams * tokens / ((ttft_ms + (tokens - 1) * itl_ms) / 1e3)


def check(streams: int, seconds: float = 3.0, workers: int | str = 1, url: str | None = None) -> Check:
    """Drive ``streams`` closed-loop streams at the scripted server for about ``seconds`` (``url``: one
    already running, started with the doctor's timing; default: a fresh one)."""
    load = dict(concurrency=[streams], duration_s=seconds, requests=streams * 20, warmup_requests=streams,
                request_timeout_s=30, scrape_interval_s=0, pin_client=False, contention_retries=0, rounds=1)
    if workers != 1 and "workers" in LoadConfig.model_fields:
        load["workers"] = workers
    server = contextlib.nullcontext(url) if url else scripted_server(ttft_ms=TTFT_MS, itl_ms=ITL_MS, spin_ms=0)
    with server as url, tempfile.TemporaryDirectory() as out:
        cfg = RunConfig(deployment=Deployment(name="doctor", engine=ExternalEngine(url=url, model="scripted")),
                        workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=64), max_tokens=TOKENS),
                        load=LoadConfig(**load))
        (s,) = run_deployment(cfg, load_prompts(cfg.workload.source), Path(out), study="doctor")
        meta = storage.read_meta(Path(out) / s.run_id)
        late = [(w - due) / 1e6 for read, due, w in first_token_timings(url)
                if meta.window_start_ns <= read <= (meta.window_end_ns or read)]
    return Check(streams=streams, seconds=s.window_s, workers=workers, tok_s=s.output_throughput_tok_s,
                 theory_tok_s=theory_tok_s(streams), lag_p50_ms=s.schedule_lag_ms.p50,
                 lag_p99_ms=s.schedule_lag_ms.p99,
                 ttft_error_ms=None if s.ttft_ms.p50 is None else s.ttft_ms.p50 - TTFT_MS,
                 server_late_ms=statistics.median(late) if late else None, errors=s.errors)


def planned_peak(load: LoadConfig) -> int | None:
    """The most streams a study's levels keep in flight: closed users, a sweep's max users, a rate
    level's ``max_in_flight``; None when no level says (open-loop rates without a cap, traces)."""
    peaks = []
    for lv in load.all_levels:
        n = getattr(lv, "users", None) or getattr(lv, "max_users", None) or getattr(lv, "max_in_flight", None)
        if n:
            peaks.append(int(n))
    return max(peaks) if peaks else None


def preflight(load: LoadConfig, seconds: float = 3.0) -> tuple[Check | None, list[str]]:
    """Drive twice the planned peak; warnings when the peak is more than half of the client's ceiling.

    Skipped (``(None, [])``) when the planned peak is unknown or at most ``PREFLIGHT_MIN_STREAMS``.
    """
    peak = planned_peak(load)
    if peak is None or peak <= PREFLIGHT_MIN_STREAMS:
        return None, []
    c = check(2 * peak, seconds, getattr(load, "workers", 1))
    if c.holds:
        return c, []
    return c, [f"pre-flight: the planned peak of {peak} streams is more than half of what this client keeps up with "
               f"(about {c.ceiling_streams} streams): at {2 * peak} it streamed {c.share:.0%} of the scripted server's "
               f"rate and added {c.client_ttft_ms or 0:+.1f} ms to TTFT p50; figures at the peak may be the client's, "
               "not the server's. Use load.workers, fewer streams, or a bigger client host "
               "(--no-preflight skips this check)"]
