"""Window throughput is one definition (metrics.core.window_rates): summarize and the intervals' point
estimates give exactly its figures."""

from __future__ import annotations

from deploybench.metrics import summarize
from deploybench.metrics.core import window_rates
from deploybench.metrics.intervals import point_values
from deploybench.schemas import RequestRecord, RunMeta

MS = 1_000_000


def _records() -> list[RequestRecord]:
    """Ten requests of 10 one-token chunks each, 100 ms apart; one failed."""
    out = []
    for i in range(10):
        sent = i * 100 * MS
        chunks = [sent + (5 + k * 10) * MS for k in range(10)]
        out.append(RequestRecord(index=i, vu=0, scheduled_ns=sent, sent_ns=sent, chunk_ns=chunks, chunk_tokens=[1] * 10,
                                 done_ns=chunks[-1] + MS, output_tokens=10, token_source="usage",
                                 error="http-500" if i == 3 else None))
    return out


def test_window_rates_by_hand():
    recs = _records()
    # window [150 ms, 650 ms]: request 1 contributes its chunks at 155..195 ms (5 tokens), requests 2, 4, 5
    # are wholly inside (request 3 failed), request 6 contributes 605..645 ms (5 tokens): 40 tokens in 0.5 s;
    # completed inside: 1 (196 ms), 2, 4, 5 -> 4 requests
    r = window_rates(recs, 150 * MS, 650 * MS)
    assert r.tokens == 40 and [x.index for x in r.completed] == [1, 2, 4, 5]
    assert r.tok_s == 80.0 and r.rps == 8.0
    empty = window_rates(recs, 650 * MS, 650 * MS)
    assert (empty.tok_s, empty.rps) == (0.0, 0.0)


def test_summarize_and_point_values_use_window_rates():
    recs = _records()
    start, end = 150 * MS, 650 * MS
    r = window_rates(recs, start, end)
    s = summarize(recs, RunMeta(run_id="r", deployment="d", concurrency=1, window_start_ns=start, window_end_ns=end))
    pts = point_values(recs, start, end)
    assert s.output_throughput_tok_s == r.tok_s == pts["output_throughput_tok_s"]
    assert s.request_throughput_rps == r.rps == pts["request_throughput_rps"]
    assert s.output_tokens == round(r.tokens)
