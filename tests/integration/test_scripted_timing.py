"""Proof that the numbers are true: measured TTFT/ITL against a server with an exact timing script."""

import statistics

import pytest

from deploybench import api, storage
from deploybench.schemas import Deployment, LoadConfig, RunConfig, SyntheticWorkload, Workload
from deploybench.engines import ExternalEngine
from deploybench.testing.servers import first_token_timings, last_token_timings, scripted_server

TTFT, ITL = 50.0, 10.0
SLACK_MS = ITL / 2  # what noise may add; a definition error is off by an ITL or more


def _cfg(url, levels, requests, max_tokens=20, model="", protocol="openai-chat"):
    return RunConfig(deployment=Deployment(name="scripted", engine=ExternalEngine(url=url, model=model),
                                           protocol=protocol),
                     workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=8), max_tokens=max_tokens),
                     load=LoadConfig(rounds=1, concurrency=levels, requests=requests, warmup_requests=2, request_timeout_s=10))


@pytest.mark.parametrize("protocol", ["openai-chat", "openai-completions"])
@pytest.mark.parametrize("streams,requests", [(1, 40), (32, 320)])
def test_ttft_itl_tpot_e2e_match_the_servers_own_timings(tmp_path, protocol, streams, requests):
    """The client's TTFT p50 is the server's own time to first token (GET /timings: when it read the
    request, when its first token's write began), never less, and at most half an ITL (5 ms) more. Compared with
    what the server stamped, not with the script's 50 ms: at 32 streams the server writes 32 first
    tokens in one burst on a 2-core host, and how late it is there is the host's, not the client's.

    Half an ITL, not 1 ms: this test checks what each figure measures (a TTFT or E2E taken to the wrong
    event or from the wrong start is off by an ITL, 10 ms, or more); how little the client adds under
    load is a speed figure, checked by ``benchmarks/client_capacity.py --smoke`` (at most 5 ms at 256
    streams), not by a timed test on a shared host (a loaded 2-core host woke the client 1.1 ms late at
    1 stream, and read 32 streams' last events 3 to 5 ms late)."""
    # 10 requests per stream after one warm-up round: the steady state, not the first synchronized burst
    cfg = _cfg("http://x", [streams], requests=requests, protocol=protocol)
    cfg.load.warmup_requests = streams
    with scripted_server(ttft_ms=TTFT, itl_ms=ITL) as url:
        cfg.deployment.engine.url = url
        study, (s,) = api.run(cfg, tmp_path, name="s")
        first = {read: written for read, _due, written in first_token_timings(url)[streams:]}  # after the warm-up
        last = {read: written for read, written in last_token_timings(url)[streams:]}
    assert s.errors == 0 and s.requests == requests and len(first) == len(last) == requests
    server = {"ttft": statistics.median((w - read) / 1e6 for read, w in first.items()),
              "e2e": statistics.median((w - read) / 1e6 for read, w in last.items()),
              "tpot": statistics.median((w - first[read]) / 1e6 / 19 for read, w in last.items())}
    assert abs(server["ttft"] - TTFT) <= 5.0, server  # the server kept its script, within the host's noise
    # From the moment the request was on the wire, the client's TTFT and E2E are the server's own (it
    # cannot see a token before it is written). The headline TTFT and E2E start earlier, when the POST
    # began (issue: time requests as the peers do): they add the connect and write parts of the split,
    # which at 32 streams include the other requests of the same burst the client wrote first.
    recs = [r for r in storage.read_records(study / s.run_id) if not r.warmup]
    on_wire = {"ttft": statistics.median((r.chunk_ns[0] - r.sent_ns) / 1e6 for r in recs),
               "e2e": statistics.median((r.done_ns - r.sent_ns) / 1e6 for r in recs)}
    for k in ("ttft", "e2e"):
        assert server[k] - 0.25 <= on_wire[k] <= server[k] + SLACK_MS, (s.concurrency, k, server, on_wire)
    assert on_wire["ttft"] <= s.ttft_ms.p50 and on_wire["e2e"] <= s.e2e_ms.p50
    before_wire = s.ttft_split_ms["connect"].p50 + s.ttft_split_ms["write"].p50
    assert s.ttft_ms.p50 - on_wire["ttft"] <= before_wire + SLACK_MS, (s.ttft_ms, on_wire, s.ttft_split_ms)
    assert abs(s.itl_ms.p50 - ITL) <= 1.0, (s.concurrency, s.itl_ms)
    # TPOT divides by the 19 gaps after the first token: dividing by 20 would read 9.5 ms
    assert abs(s.tpot_ms.p50 - server["tpot"]) <= 0.2, (server, s.tpot_ms)
    assert s.output_tokens == requests * 20 and s.token_source == "usage"


@pytest.mark.parametrize("protocol", ["openai-chat", "openai-completions"])
def test_multi_token_chunks_count_k_tokens(tmp_path, protocol):
    """Events of 4 tokens each, 20 ms apart, each carrying the running usage count (vLLM's
    continuous_usage_stats): every event counts 4 tokens, TPOT = 60 ms / (16 - 4) = 5 ms, and the usage
    count matches what streamed. ITL is one gap per event (changed on purpose, as vLLM's bench counts it):
    20 ms, the gaps the stream really had."""
    with scripted_server(ttft_ms=20, itl_ms=5, tokens_per_chunk=4) as url:
        study, (s,) = api.run(_cfg(url, [2], requests=8, max_tokens=16, protocol=protocol), tmp_path, name="m")
    recs = [r for r in storage.read_records(study / "scripted__c2") if not r.warmup]
    assert all(r.chunk_tokens == [4, 4, 4, 4] and r.output_tokens == 16 for r in recs)
    # (TPOT counting 1 token per event would read 20 ms; over usage's 16 - 1 tokens 4 ms)
    assert abs(s.itl_ms.p50 - 20.0) <= 0.75, s.itl_ms
    assert abs(s.tpot_ms.p50 - 5.0) <= 0.75, s.tpot_ms
    assert s.token_mismatch == 0 and s.output_tokens == 8 * 16


def test_unannounced_batching_is_reported_as_token_mismatch(tmp_path):
    """4 tokens per event with nothing saying so: each event counts 1, TPOT uses the 4 tokens that
    streamed (not usage's 16), ITL agrees with it, and every request is a token mismatch."""
    with scripted_server(ttft_ms=20, itl_ms=5, tokens_per_chunk=4) as url:
        _, (s,) = api.run(_cfg(url, [1], requests=5, max_tokens=16, model="batch-unannounced"), tmp_path, name="u")
    assert s.errors == 0 and s.token_mismatch == 5
    assert abs(s.tpot_ms.p50 - 20.0) <= 3 and abs(s.itl_ms.p50 - 20.0) <= 3, (s.tpot_ms, s.itl_ms)


def test_reasoning_tokens_are_output_and_ttft_content_is_separate(tmp_path):
    """``reasoning``: tokens 0-4 stream as reasoning_content, 5-9 as content. TTFT is the first token of
    any kind (20 ms); ttft_content_ms the first answer token (20 + 5 x 5 = 45 ms)."""
    with scripted_server(ttft_ms=20, itl_ms=5) as url:
        study, (s,) = api.run(_cfg(url, [1], requests=4, max_tokens=10, model="reasoning"), tmp_path, name="r")
    assert s.errors == 0 and s.token_mismatch == 0
    # 25 ms apart: a few ms of scheduling noise on a busy machine cannot mix them up
    assert abs(s.ttft_ms.p50 - 20.0) <= 5.0, s.ttft_ms
    assert abs(s.ttft_content_ms.p50 - 45.0) <= 5.0, s.ttft_content_ms
    assert all(len(r.chunk_ns) == 10 for r in storage.read_records(study / "scripted__c1"))


FAULTS = [("fault-http500", "HTTP 500"), ("fault-drop", "connection dropped"),
          ("fault-malformed", "malformed event: '{not json'"),
          ("fault-null-choice", "malformed event (choices)"), ("fault-string-delta", "malformed event (choices)"),
          ("fault-list-usage", "malformed event (usage)")]


@pytest.mark.parametrize("fault,expect", FAULTS)
def test_faults_become_per_request_errors(tmp_path, fault, expect):
    """Each fault is reported as itself (no catch-all message), and a wrong-shaped event is an error
    record, not an exception that ends the level."""
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        study, (s,) = api.run(_cfg(url, [2], requests=4, max_tokens=8, model=fault), tmp_path, name=fault)
    assert s.requests == 4 and s.errors == 4 and s.error_rate == 1.0
    errs = [r.error for r in storage.read_records(study / "scripted__c2")]
    assert len(errs) == 6 and all(e and e.startswith(expect) for e in errs), errs  # 2 warm-up + 4


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
