"""Proof that the numbers are true: measured TTFT/ITL against a server with an exact timing script."""

import pytest

from deploybench import api, storage
from deploybench.schemas import Deployment, ExternalEngine, LoadConfig, RunConfig, SyntheticWorkload, Workload
from deploybench.testing.servers import scripted_server

TTFT, ITL = 50.0, 10.0


def _cfg(url, levels, requests, max_tokens=20, model="", protocol="openai-chat"):
    return RunConfig(deployment=Deployment(name="scripted", engine=ExternalEngine(url=url, model=model),
                                           protocol=protocol),
                     workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=8), max_tokens=max_tokens),
                     load=LoadConfig(concurrency=levels, requests=requests, warmup_requests=2, request_timeout_s=10))


@pytest.mark.parametrize("protocol", ["openai-chat", "openai-completions"])
@pytest.mark.parametrize("streams,requests", [(1, 40), (32, 320)])
def test_ttft_and_itl_within_1ms_at_1_and_32_streams(tmp_path, protocol, streams, requests):
    # 10 requests per stream after one warm-up round: the steady state, not the first synchronized burst
    cfg = _cfg("http://x", [streams], requests=requests, protocol=protocol)
    cfg.load.warmup_requests = streams
    with scripted_server(ttft_ms=TTFT, itl_ms=ITL) as url:
        cfg.deployment.engine.url = url
        _, summaries = api.run(cfg, tmp_path, name="s")
    for s in summaries:
        assert s.errors == 0 and s.requests == requests
        assert abs(s.ttft_ms.p50 - TTFT) <= 1.0, (s.concurrency, s.ttft_ms)
        assert abs(s.itl_ms.p50 - ITL) <= 1.0, (s.concurrency, s.itl_ms)
        assert abs(s.tpot_ms.p50 - ITL) <= 1.0
        assert s.output_tokens == requests * 20 and s.token_source == "usage"
        # E2E of a 20-token stream = TTFT + 19 ITL
        assert abs(s.e2e_ms.p50 - (TTFT + 19 * ITL)) <= 2.0


def test_multi_token_chunks_split_itl(tmp_path):
    with scripted_server(ttft_ms=20, itl_ms=5, tokens_per_chunk=4) as url:
        _, (s,) = api.run(_cfg(url, [2], requests=8, max_tokens=16), tmp_path, name="m")
    # chunks arrive every 4 x 5 ms = 20 ms; recorded as 1 token each, so ITL reads 20 ms per chunk gap
    # while TPOT (from server usage: 16 tokens) reads (last-first)/(16-1) = 60/15 = 4 ms.
    assert abs(s.tpot_ms.p50 - 4.0) <= 1.0
    assert abs(s.itl_ms.p50 - 20.0) <= 1.0


@pytest.mark.parametrize("fault,expect", [("fault-http500", "HTTP 500"), ("fault-drop", "dropped"),
                                          ("fault-malformed", "malformed event")])
def test_faults_become_per_request_errors(tmp_path, fault, expect):
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        study, (s,) = api.run(_cfg(url, [2], requests=4, max_tokens=8, model=fault), tmp_path, name=fault)
    assert s.errors == 4 and s.error_rate == 1.0
    errs = {r.error for r in storage.read_records(study / "scripted__c2")}
    assert all(e and (expect in e or "ended before" in e) for e in errs), errs


def test_timeout_is_an_error_not_a_hang(tmp_path):
    cfg = _cfg("http://x", [1], requests=1, model="fault-hang")
    with scripted_server() as url:
        cfg.deployment.engine.url = url
        cfg.load.request_timeout_s = 0.5
        cfg.load.warmup_requests = 0
        _, (s,) = api.run(cfg, tmp_path, name="hang")
    assert s.errors == 1


def test_missing_usage_falls_back_to_counted_chunks(tmp_path):
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        _, (s,) = api.run(_cfg(url, [1], requests=3, max_tokens=8, model="fault-nousage"), tmp_path, name="nu")
    assert s.errors == 0 and s.output_tokens == 24 and s.token_source == "chunks"
