"""Pure metric functions over raw request records (no I/O, no clocks).

Definitions (docs/metrics.md has the full text):
  start       = started (the POST began, before a connection was taken); sent where a record has no
                started (older stores, SageMaker through botocore): the cell is flagged ttft-from-sent
  TTFT        = first chunk carrying output of any kind (text, reasoning, tool call) - start
  TTFT content= first chunk carrying answer text - start
  E2E         = done - start
  from due    = the same two, from the scheduled arrival instead (open loop: queueing a late client hid)
  TPOT        = (last token chunk - first token chunk) / (streamed tokens - tokens of the first chunk)
  ITL         = gaps between consecutive token-carrying events, one per event (as vLLM's bench counts)
  ms/token    = E2E / output tokens, client view (not TGI's server-side time_per_token)
  throughput  = output tokens that arrived inside the window / window length
  lag         = start - scheduled
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ..schemas import Dist, RequestRecord

NS_PER_MS = 1e6


def dist(values: Sequence[float] | np.ndarray) -> Dist:
    """Summary statistics; percentiles by linear interpolation (as pandas/numpy default)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        return Dist(n=0)
    p = np.percentile(arr, [50, 90, 95, 99])
    return Dist(n=int(arr.size), mean=float(arr.mean()), min=float(arr.min()), p50=float(p[0]),
                p90=float(p[1]), p95=float(p[2]), p99=float(p[3]), max=float(arr.max()))


def start_ns(r: RequestRecord) -> int:
    """Where a request's latencies start: the POST began (``started_ns``, before a connection was
    taken, as vLLM's bench, GuideLLM and AIPerf start their clocks), else when it was written."""
    return r.sent_ns if r.started_ns is None else r.started_ns


def from_sent(r: RequestRecord) -> bool:
    """A record without ``started_ns``: its latencies run from ``sent_ns`` (connect and write not in)."""
    return r.started_ns is None


def ttft_ms(r: RequestRecord) -> float | None:
    if r.error or not r.chunk_ns:
        return None
    return (r.chunk_ns[0] - start_ns(r)) / NS_PER_MS


def ttft_content_ms(r: RequestRecord) -> float | None:
    """Time to the first token of the answer text (after any reasoning or tool-call tokens)."""
    if r.error or r.first_content_ns is None:
        return None
    return (r.first_content_ns - start_ns(r)) / NS_PER_MS


def e2e_ms(r: RequestRecord) -> float | None:
    return None if r.error else (r.done_ns - start_ns(r)) / NS_PER_MS


def ttft_from_due_ms(r: RequestRecord) -> float | None:
    """Open loop: time to first token from the request's scheduled arrival (a client that sent it late
    cannot hide the wait: coordinated omission)."""
    if r.error or not r.chunk_ns:
        return None
    return (r.chunk_ns[0] - r.scheduled_ns) / NS_PER_MS


def e2e_from_due_ms(r: RequestRecord) -> float | None:
    """Open loop: end-to-end latency from the request's scheduled arrival."""
    return None if r.error else (r.done_ns - r.scheduled_ns) / NS_PER_MS


def streamed_tokens(r: RequestRecord) -> int:
    """Output tokens that actually arrived: the sum over chunks (a chunk with k tokens counts k)."""
    return sum(_chunk_tokens(r))


def _chunk_tokens(r: RequestRecord) -> list[int]:
    return [max(1, r.chunk_tokens[i]) if i < len(r.chunk_tokens) else 1 for i in range(len(r.chunk_ns))]


def tpot_ms(r: RequestRecord) -> float | None:
    """Decode time per token between the first and the last chunk, over the tokens that arrived after
    the first chunk: the mean of this request's ITL, by construction. None with no such token."""
    if r.error or len(r.chunk_ns) < 2:
        return None
    k = _chunk_tokens(r)
    return (r.chunk_ns[-1] - r.chunk_ns[0]) / (sum(k) - k[0]) / NS_PER_MS


def token_mismatch(r: RequestRecord) -> bool:
    """The server's usage count disagrees with the tokens that streamed (a successful request)."""
    return r.error is None and r.token_source == "usage" and r.output_tokens != streamed_tokens(r)


def stopped_short(records: Iterable[RequestRecord]) -> int:
    """Successful requests whose output came up short of the ``max_tokens`` they asked for.

    A server that ends a request early (an end-of-sequence token it did not ignore, a context limit)
    measures a different workload; this counts such requests. Unknown counts are not counted.
    """
    return sum(1 for r in records if r.error is None and r.max_tokens is not None
               and r.output_tokens is not None and r.output_tokens < r.max_tokens)


def ms_per_token(r: RequestRecord) -> float | None:
    n = r.output_tokens or 0
    if r.error or n < 1:
        return None
    return (r.done_ns - start_ns(r)) / n / NS_PER_MS


def itl_ms(r: RequestRecord) -> list[float]:
    """Inter-token latencies of one request: one gap per token-carrying event, whatever the tokens it
    carries (a server that sends 4 tokens per event shows its real 4-token gaps; TPOT is per token)."""
    if r.error or len(r.chunk_ns) < 2:
        return []
    c = r.chunk_ns
    return [(c[i] - c[i - 1]) / NS_PER_MS for i in range(1, len(c))]


def lag_ms(r: RequestRecord) -> float:
    """How late the client began the request after it was due (started, else sent, - scheduled)."""
    return (start_ns(r) - r.scheduled_ns) / NS_PER_MS


def measured(records: Iterable[RequestRecord]) -> list[RequestRecord]:
    return [r for r in records if not r.warmup]


def collect(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def window(records: Sequence[RequestRecord], start_ns: int | None, end_ns: int | None) -> tuple[int, int]:
    """The measurement window; defaults to first send .. last completion of measured requests."""
    if start_ns is None:
        start_ns = min((r.scheduled_ns for r in records), default=0)
    if end_ns is None:
        end_ns = max((r.done_ns for r in records), default=start_ns)
    return start_ns, end_ns


def tokens_in_window(r: RequestRecord, start_ns: int, end_ns: int) -> float:
    """Output tokens of a successful request that arrived inside [start, end].

    Each token-carrying chunk counts with its tokens, scaled so a request's chunks add up to its
    reported output tokens (server usage); a request entirely inside the window counts fully.
    """
    if r.error or not r.output_tokens:
        return 0.0
    if start_ns <= r.sent_ns and r.done_ns <= end_ns:
        return float(r.output_tokens)
    counted = sum(r.chunk_tokens) or 1
    inside = sum(k for t, k in zip(r.chunk_ns, r.chunk_tokens) if start_ns <= t <= end_ns)
    return inside * r.output_tokens / counted


def in_window(records: Sequence[RequestRecord], start_ns: int, end_ns: int) -> list[RequestRecord]:
    """Successful requests whose completion falls inside [start, end]."""
    return [r for r in records if r.error is None and start_ns <= r.done_ns <= end_ns]


@dataclass(frozen=True)
class WindowRates:
    """A window's throughput: output tokens that arrived inside it, the requests completed inside it, and
    each per second of the window (0 for an empty window)."""

    tokens: float
    completed: list[RequestRecord]
    tok_s: float
    rps: float


def window_rates(records: Sequence[RequestRecord], start_ns: int, end_ns: int) -> WindowRates:
    """The window's throughput, the one definition every figure uses (``summarize``, the intervals, an
    adaptive window's point estimates): :func:`tokens_in_window` and :func:`in_window` over [start, end],
    divided by its length."""
    tokens = sum(tokens_in_window(r, start_ns, end_ns) for r in records)
    completed = in_window(records, start_ns, end_ns)
    window_s = (end_ns - start_ns) / 1e9
    if window_s <= 0:
        return WindowRates(tokens, completed, 0.0, 0.0)
    return WindowRates(tokens, completed, tokens / window_s, len(completed) / window_s)


ERROR_KINDS = (  # (start of the error text, kind); first match wins. HTTP errors: http-<status>
    ("timeout after", "timeout"), ("connection refused", "connection-refused"),
    ("connection reset", "connection-reset"), ("connection dropped", "connection-dropped"),
    ("malformed", "malformed"), ("server error", "server-error"), ("stream ended", "stream-ended"),
    ("dropped:", "dropped"), ("cancelled", "cancelled"), ("oversized event", "oversized-event"),
)


def error_kind(error: str) -> str:
    """The kind of a request's error, from the start of its text (``load.faults.describe`` writes them)."""
    m = re.match(r"HTTP (\d{3})", error)
    if m:
        return f"http-{m.group(1)}"
    for start, kind in ERROR_KINDS:
        if error.startswith(start):
            if kind == "timeout":
                return ("timeout-stalled" if "stalled" in error else
                        "timeout-first-byte" if "first byte" in error else
                        "timeout-first-token" if "first token" in error else "timeout")
            return kind
    return "other"


def errors_by_kind(records: Sequence[RequestRecord]) -> dict[str, int]:
    """Failed requests counted by :func:`error_kind`, most frequent first (ties by name)."""
    counts = Counter(error_kind(r.error) for r in records if r.error is not None)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
