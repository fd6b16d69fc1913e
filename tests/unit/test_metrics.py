"""Metric definitions on hand-built records (values computed by hand, not by the code)."""

import math

import pytest

from deploybench import metrics
from deploybench.metrics import slo
from deploybench.schemas import ConfigError, RequestRecord, RunMeta

MS = 1_000_000


def rec(i=0, sent=0, chunks=(), tokens=None, done=None, out=None, err=None, sched=None, warm=False, start=None):
    chunks = [c * MS for c in chunks]
    return RequestRecord(index=i, scheduled_ns=(sched if sched is not None else sent) * MS, sent_ns=sent * MS,
                         started_ns=None if start is None else start * MS,
                         chunk_ns=chunks, chunk_tokens=list(tokens or [1] * len(chunks)),
                         done_ns=(done if done is not None else (chunks[-1] // MS if chunks else sent)) * MS,
                         output_tokens=out if out is not None else sum(tokens or [1] * len(chunks)),
                         error=err, warmup=warm, token_source="usage")


def test_ttft_tpot_e2e_ms_per_token():
    r = rec(sent=100, chunks=[150, 160, 170, 180], done=185)
    assert metrics.ttft_ms(r) == 50
    assert metrics.e2e_ms(r) == 85
    assert metrics.tpot_ms(r) == pytest.approx(10.0)  # (180-150)/(4-1)
    assert metrics.ms_per_token(r) == pytest.approx(85 / 4)


def test_tpot_counts_the_tokens_that_streamed():
    # 3 events carrying 2, 1, 3 tokens at 10, 20, 50 ms: 4 tokens after the first event in 40 ms
    r = rec(sent=0, chunks=[10, 20, 50], tokens=[2, 1, 3], out=6)
    assert metrics.tpot_ms(r) == pytest.approx(10.0)
    # ITL is one gap per event (10 and 30 ms), as vLLM's bench counts it: its mean is no longer TPOT
    assert metrics.itl_ms(r) == pytest.approx([10.0, 30.0])
    # usage says 9 but 6 streamed: TPOT still divides by the 4 tokens that arrived after the first event
    short = rec(sent=0, chunks=[10, 20, 50], tokens=[2, 1, 3], out=9)
    assert metrics.tpot_ms(short) == pytest.approx(10.0)


def test_token_mismatch_and_ttft_content_in_summary():
    agree = rec(0, 0, [10, 20, 30], out=3)
    disagree = rec(1, 0, [10, 20, 30], out=5)
    content = rec(2, 0, [10, 20, 30], out=3).model_copy(update={"first_content_ns": 30 * MS})
    failed = rec(3, 0, [10], out=4, err="timeout")
    s = metrics.summarize([agree, disagree, content, failed], RunMeta(run_id="r", concurrency=1))
    assert s.token_mismatch == 1
    assert s.ttft_ms.p50 == pytest.approx(10.0)
    assert s.ttft_content_ms.n == 1 and s.ttft_content_ms.p50 == pytest.approx(30.0)


def test_itl_is_one_gap_per_event():
    """Changed on purpose (ITL per event, as vLLM's bench): a 3-token event 30 ms after the one before is
    one 30 ms gap, not three of 10 ms (which made the ITL tail look tighter than the stream was)."""
    r = rec(sent=0, chunks=[10, 20, 50], tokens=[1, 1, 3])
    assert metrics.itl_ms(r) == pytest.approx([10.0, 30.0])


def test_ttft_and_e2e_start_when_the_post_began():
    """TTFT and E2E run from ``started_ns`` (before the connection was taken and the request written), as
    the peers' clocks do; the schedule lag ends there; a record without it falls back to ``sent_ns``."""
    r = rec(sent=104, start=100, chunks=[150, 160], done=165, sched=97)
    assert metrics.ttft_ms(r) == 50 and metrics.e2e_ms(r) == 65 and metrics.lag_ms(r) == 3
    assert metrics.ms_per_token(r) == pytest.approx(65 / 2)
    old = rec(sent=104, chunks=[150, 160], done=165, sched=97)
    assert metrics.ttft_ms(old) == 46 and metrics.e2e_ms(old) == 61 and metrics.lag_ms(old) == 7
    meta = RunMeta(run_id="r", concurrency=1)
    assert "ttft-from-sent" not in metrics.summarize([r], meta).flags
    assert "ttft-from-sent" in metrics.summarize([r, old], meta).flags


def test_open_loop_reads_latency_from_the_due_time():
    """Open loop: the from-due figures start at the scheduled arrival; SLO checks and goodput read them,
    so a client that sent 40 ms late cannot pass a TTFT SLO the service did not meet."""
    late = [rec(i, sent=1000 * i + 40, start=1000 * i + 40, sched=1000 * i, chunks=[1000 * i + 90], done=1000 * i + 95)
            for i in range(4)]
    open_meta = RunMeta(run_id="r", concurrency=0, level={"kind": "rate", "key": "r1"}, window_start_ns=0,
                        window_end_ns=4000 * MS)
    s = metrics.summarize(late, open_meta, slos=slo.parse("p50_ttft_ms<=60"))
    assert s.ttft_ms.p50 == pytest.approx(50) and s.ttft_from_due_ms.p50 == pytest.approx(90)
    assert s.e2e_from_due_ms.p50 == pytest.approx(95)
    (c,) = slo.parse("p50_ttft_ms<=60")
    assert not c.met_by_summary(s) and s.goodput_rps == 0 and s.slo_attainment == 0
    closed = metrics.summarize(late, RunMeta(run_id="c", concurrency=1), slos=slo.parse("p50_ttft_ms<=60"))
    assert closed.ttft_from_due_ms is None and c.met_by_summary(closed) and closed.slo_attainment == 1


def test_errors_have_no_latency():
    r = rec(sent=0, chunks=[10], err="HTTP 500: boom")
    assert metrics.ttft_ms(r) is None and metrics.e2e_ms(r) is None and metrics.itl_ms(r) == []


def test_summary_window_and_throughput():
    # 3 measured requests of 4 tokens; the last token of one arrives after the window end.
    recs = [rec(0, 0, [10, 20, 30, 40], done=40), rec(1, 40, [50, 60, 70, 80], done=80),
            rec(2, 80, [90, 100, 110, 1200], done=1200), rec(3, 0, [5], warm=True),
            rec(4, 10, [], done=20, err="timeout")]
    meta = RunMeta(run_id="r", concurrency=1, window_start_ns=0, window_end_ns=1000 * MS, price_per_hour=3.6)
    s = metrics.summarize(recs, meta)
    assert s.requests == 4 and s.errors == 1 and s.completed == 3
    assert s.error_rate == pytest.approx(0.25)
    assert s.window_s == pytest.approx(1.0)
    assert s.output_tokens == 11  # 4 + 4 + 3 tokens inside the window
    assert s.output_throughput_tok_s == pytest.approx(11.0)
    assert s.request_throughput_rps == pytest.approx(2.0)  # completed inside the window
    assert s.ttft_ms.p50 == pytest.approx(10.0)
    assert s.minutes_per_1m_tokens == pytest.approx(1e6 / 11 / 60)
    assert s.cost_per_1m_tokens == pytest.approx(3.6 * (1e6 / 11 / 60) / 60)


def test_window_tokens_scale_to_usage():
    # 2 chunks carrying (by usage) 8 tokens; one chunk inside the window -> 4 tokens counted
    r = rec(0, 0, [10, 30], done=30, out=8)
    meta = RunMeta(run_id="r", concurrency=1, window_start_ns=0, window_end_ns=20 * MS)
    assert metrics.summarize([r], meta).output_tokens == 4


def test_percentiles_are_linear_like_pandas():
    d = metrics.dist([1, 2, 3, 4])
    assert d.p50 == 2.5 and d.p90 == pytest.approx(3.7) and d.max == 4 and d.n == 4


def test_schedule_lag_flags_client():
    recs = [rec(i, sent=i * 10 + 5, sched=i * 10, chunks=[i * 10 + 6], done=i * 10 + 7) for i in range(10)]
    s = metrics.summarize(recs, RunMeta(run_id="r", concurrency=1), max_lag_ms=1.0)
    assert s.schedule_lag_ms.p99 == pytest.approx(5.0)
    assert s.client_lagged


def test_cost_math():
    assert metrics.minutes_per_1m(1000.0) == pytest.approx(1e6 / 1000 / 60)
    assert metrics.cost_per_1m(1.515, 1000.0) == pytest.approx(1.515 * 1e6 / 1000 / 3600)
    assert metrics.cost_per_1m(None, 10.0) is None and metrics.minutes_per_1m(0) is None


def test_slo_parse_and_goodput():
    cs = slo.parse("p90_ttft_ms<=500, p50_tpot_ms<40,error_rate<=0.01")
    assert [str(c) for c in cs] == ["p90_ttft_ms<=500", "p50_tpot_ms<40", "error_rate<=0.01"]
    fast, slow = rec(0, 0, [100, 110], done=110), rec(1, 0, [600, 610], done=610)
    good = slo.parse("ttft_ms<=500")
    s = metrics.summarize([fast, slow], RunMeta(run_id="r", concurrency=1, window_start_ns=0,
                                                window_end_ns=1000 * MS), good)
    assert s.goodput_rps == pytest.approx(1.0) and s.request_throughput_rps == pytest.approx(2.0)
    # TTFTs 100 and 600 ms: p50 = 350, p90 = 100 + 0.9 x 500 = 550 (linear interpolation)
    assert s.ttft_ms.p50 == pytest.approx(350.0) and s.ttft_ms.p90 == pytest.approx(550.0)
    assert good[0].met_by_summary(s) is True  # no stat: the median
    assert slo.parse("p90_ttft_ms<=500")[0].met_by_summary(s) is False
    assert slo.parse("p90_ttft_ms<=550")[0].met_by_summary(s) is True
    assert slo.parse("p90_ttft_ms<550")[0].met_by_summary(s) is False


@pytest.mark.parametrize("bad", ["p90_ttft<=", "latency<=3", "p90_ttft_ms=5"])
def test_slo_errors_are_one_line(bad):
    with pytest.raises(ConfigError) as e:
        slo.parse(bad)
    assert "\n" not in str(e.value) and "--slo" in str(e.value)


def test_no_records_gives_empty_summary():
    s = metrics.summarize([], RunMeta(run_id="r", concurrency=4))
    assert s.requests == 0 and s.output_throughput_tok_s == 0 and s.ttft_ms.n == 0 and not math.isnan(s.error_rate)


def test_server_metrics_summary_inside_window():
    samples = [{"t_ns": t * 1_000_000_000, "values": {"llamacpp:requests_processing": v, "llamacpp:requests_deferred": 0.0,
                                                      "llamacpp:tokens_predicted_total": 100.0 * t}}
               for t, v in [(0, 9.0), (1, 2.0), (2, 4.0), (3, 9.0)]]
    out = metrics.summarize_server(samples, 1_000_000_000, 2_000_000_000)
    assert out["requests_running"]["mean"] == pytest.approx(3.0) and out["requests_running"]["max"] == 4.0
    assert out["requests_waiting"]["max"] == 0.0
    assert out["tokens_per_s"]["mean"] == pytest.approx(100.0)
    assert "kv_cache_usage" not in out


def test_prometheus_parse_keeps_engine_series():
    from deploybench.load.scrape import parse

    text = ("# HELP llamacpp:requests_processing x\n# TYPE llamacpp:requests_processing gauge\n"
            "llamacpp:requests_processing 3\n# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 5\n"
            '# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name="m"} 7\n')
    assert parse(text) == {"llamacpp:requests_processing": 3.0, "vllm:num_requests_waiting": 7.0}
    assert parse("garbage {{{") == {}
