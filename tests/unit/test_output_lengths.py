"""Per-request output lengths (samples answer_tokens, JSONL max_tokens) and the stopped-short count."""

import json

import pytest

from deploybench import metrics, workloads
from deploybench.schemas import ConfigError, JsonlWorkload, RequestRecord, RunMeta, SamplesWorkload

MS = 1_000_000


def test_samples_output_lengths(tmp_path):
    p = tmp_path / "samples.json"
    p.write_text(json.dumps([["a", 10, 37], ["b", 900, 12], ["c", 20, 320]]))
    assert [x.max_tokens for x in workloads.samples(SamplesWorkload(path=p))] == [None, None, None]
    on = workloads.samples(SamplesWorkload(path=p, output_lengths=True, max_input_tokens=500))
    assert [(x.id, x.max_tokens) for x in on] == [("sample-0", 37), ("sample-2", 320)]


@pytest.mark.parametrize("entry", [["a", 10], ["a", 10, 0], ["a", 10, "many"], ["a", 10, 2.5]])
def test_samples_without_answer_tokens_is_one_line(tmp_path, entry):
    p = tmp_path / "samples.json"
    p.write_text(json.dumps([["ok", 1, 5], entry]))
    with pytest.raises(ConfigError) as e:
        workloads.samples(SamplesWorkload(path=p, output_lengths=True))
    msg = str(e.value)
    assert "entry 1: answer_tokens" in msg and "output_lengths: false" in msg and "\n" not in msg
    assert len(workloads.samples(SamplesWorkload(path=p))) == 2  # off: the third value is not read


def test_jsonl_max_tokens_per_line(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text('{"prompt": "a", "max_tokens": 7}\n{"prompt": "b"}\n'
                 '{"messages": [{"role": "user", "content": "c"}], "max_tokens": 300}\n')
    assert [x.max_tokens for x in workloads.jsonl(JsonlWorkload(path=p))] == [7, None, 300]
    p.write_text('{"prompt": "a"}\n{"prompt": "b", "max_tokens": "lots"}\n')
    with pytest.raises(ConfigError, match=r"p.jsonl:2: max_tokens: 'lots' is not a whole number >= 1 — "):
        workloads.jsonl(JsonlWorkload(path=p))


def _rec(i, out, max_tokens, err=None, warm=False):
    chunks = [(10 + k) * MS for k in range(out)]
    return RequestRecord(index=i, scheduled_ns=0, sent_ns=0, chunk_ns=chunks, chunk_tokens=[1] * out,
                         done_ns=(chunks[-1] if chunks else MS), output_tokens=out, max_tokens=max_tokens,
                         error=err, warmup=warm, token_source="usage")


def test_stopped_short_counts_successful_requests_below_their_max_tokens():
    recs = [_rec(0, 16, 16), _rec(1, 9, 16), _rec(2, 3, 50), _rec(3, 20, 16),  # 2 short, 1 longer than asked
            _rec(4, 2, 16, err="timeout"),  # failed: not counted
            _rec(5, 4, 16, warm=True),  # warm-up: not measured
            _rec(6, 5, None)]  # no max_tokens known
    assert metrics.stopped_short(recs) == 3  # the pure function counts what it is given (warm-up included)
    s = metrics.summarize(recs, RunMeta(run_id="r", concurrency=1))
    assert s.stopped_short == 2
    # percentiles still cover every successful measured request, short or not
    assert s.ttft_ms.n == 5 and s.e2e_ms.n == 5


def test_trials_add_up_their_stopped_short():
    from deploybench.metrics.rounds import combine_all

    one = metrics.summarize([_rec(0, 3, 16), _rec(1, 16, 16)], RunMeta(run_id="r", concurrency=1))
    two = metrics.summarize([_rec(0, 3, 16), _rec(1, 4, 16)], RunMeta(run_id="r__t2", concurrency=1, trial=2))
    assert combine_all([one, two])[0].stopped_short == 3
