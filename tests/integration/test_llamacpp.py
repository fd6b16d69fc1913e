"""The real llama-server with the PyPI model: exact token counts, honest throughput, clean lifecycle."""

import socket

import pytest

from deploybench import api, storage
from deploybench.engines.llamacpp import LlamaCppServer
from deploybench.schemas import ConfigError, Deployment, EngineError, LoadConfig, RunConfig, Workload
from deploybench.engines import LlamaCppEngine
from deploybench.schemas import SyntheticWorkload
from tests.procs import llama_servers_on

pytestmark = [pytest.mark.slow, pytest.mark.required, pytest.mark.usefixtures("have_llama")]


def _cfg(levels, requests, max_tokens=16, protocol="openai-chat"):
    return RunConfig(
        deployment=Deployment(name="smol", engine=LlamaCppEngine(threads=2, parallel=2, ctx_size=2048),
                              protocol=protocol, hardware={"name": "local", "price_per_hour": 0.1}),
        workload=Workload(source=SyntheticWorkload(input_tokens=32, prompts=16), max_tokens=max_tokens),
        load=LoadConfig(rounds=1, concurrency=levels, requests=requests, warmup_requests=1))


@pytest.mark.parametrize("protocol", ["openai-chat", "openai-completions"])
def test_exact_tokens_and_throughput_from_counts(tmp_path, protocol):
    study, summaries = api.run(_cfg([1, 2], requests=6, protocol=protocol), tmp_path, name="real")
    assert [s.concurrency for s in summaries] == [1, 2]
    for s in summaries:
        run = study / s.run_id
        recs = [r for r in storage.read_records(run) if not r.warmup]
        meta = storage.read_meta(run)
        assert meta.status == "complete" and s.errors == 0 and len(recs) == 6
        assert all(r.output_tokens == 16 and r.token_source == "usage" for r in recs)
        assert all(len(r.chunk_ns) == 16 for r in recs)  # llama-server streams one token per chunk
        # llama-server closes the connection after each streamed answer (advertising keep-alive), so a
        # pooled one would race that close; every request asks for its own connection (only the probe's
        # GET /v1/models connection, which llama-server keeps, may be taken once)
        assert sum(bool(r.reused) for r in recs) <= 1, [r.reused for r in recs]
        assert all(r.input_tokens and r.input_tokens > 10 for r in recs)
        assert s.output_tokens == 16 * 6
        assert 0 < s.ttft_ms.p50 < s.e2e_ms.p50
        # metadata for reproducibility
        assert meta.engine.binary_version and meta.engine.model_sha256 and len(meta.engine.model_sha256) == 64
        assert meta.host.cpu_count >= 1 and "--parallel" in meta.engine.argv
        assert (run / "records.parquet").exists()
        # the server's own view, scraped from /metrics during the cell
        assert (run / "server_metrics.jsonl").exists()
        assert s.server["requests_running"]["max"] <= s.concurrency
        port = int(meta.engine.argv[meta.engine.argv.index("--port") + 1])
        assert llama_servers_on(port) == []  # stopped after the deployment


def test_resummarize_matches_stored(tmp_path):
    study, (s,) = api.run(_cfg([2], requests=4, max_tokens=8), tmp_path, name="re")
    (again,) = api.summarize(study)
    assert again.output_throughput_tok_s == pytest.approx(s.output_throughput_tok_s)
    assert again.ttft_ms == s.ttft_ms


def test_bad_model_file_gives_log_tail_and_no_orphan(tmp_path):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file at all" * 100)
    srv = LlamaCppServer(LlamaCppEngine(model=str(bad), threads=1, startup_timeout_s=30), tmp_path)
    with pytest.raises(EngineError) as e:
        srv.start()
    msg = str(e.value)
    assert "llama-server exited" in msg and "log" in msg and "\n" not in msg
    assert llama_servers_on(srv.port) == []


def test_port_in_use_is_a_config_error(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(ConfigError, match=f"engine.port: {port} is already in use"):
            LlamaCppServer(LlamaCppEngine(port=port), tmp_path)


def test_too_many_threads_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="engine.threads"):
        LlamaCppServer(LlamaCppEngine(threads=4096), tmp_path)


def test_external_llama_server_gets_a_connection_per_request(tmp_path):
    """Measured through --endpoint, a llama-server (it closes connections after each streamed answer)
    is known by its Server header: every request opens its own connection and none is lost."""
    from deploybench.engines import ExternalEngine

    with LlamaCppServer(LlamaCppEngine(threads=2, parallel=2, ctx_size=1024), tmp_path) as ep:
        cfg = RunConfig(deployment=Deployment(name="ext", engine=ExternalEngine(url=ep.url)),
                        workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=16), max_tokens=4),
                        load=LoadConfig(rounds=1, concurrency=[2], requests=12, warmup_requests=0, contention_retries=0))
        study, (s,) = api.run(cfg, tmp_path / "runs", name="ext")
    recs = list(storage.read_records(study / s.run_id))
    assert s.errors == 0 and len(recs) == 12
    assert sum(bool(r.reused) for r in recs) <= 1, [r.reused for r in recs]  # the probe's GET connection


def _predicted_total(url: str) -> float:
    """llama-server's own count of generated tokens (GET /metrics, ``llamacpp:tokens_predicted_total``)."""
    import urllib.request

    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith("llamacpp:tokens_predicted_total"):
                return float(line.split()[-1])
    raise AssertionError("no llamacpp:tokens_predicted_total in /metrics")


def test_tokens_and_throughput_match_the_servers_own_count(tmp_path):
    """The tokens the client counts are the tokens llama-server says it generated (its /metrics counter,
    read before and after the run), and throughput is that count over the window."""
    from deploybench.engines import ExternalEngine

    with LlamaCppServer(LlamaCppEngine(threads=2, parallel=2, ctx_size=2048), tmp_path / "srv") as endpoint:
        before = _predicted_total(endpoint.url)
        cfg = RunConfig(deployment=Deployment(name="ext", engine=ExternalEngine(url=endpoint.url),
                                              hardware={"name": "local", "price_per_hour": 0.1}),
                        workload=Workload(source=SyntheticWorkload(input_tokens=32, prompts=16), max_tokens=16),
                        load=LoadConfig(rounds=1, concurrency=[2], requests=6, warmup_requests=1, scrape_interval_s=0))
        _, (s,) = api.run(cfg, tmp_path, name="counted")
        generated = _predicted_total(endpoint.url) - before
    assert generated == 16 * 7  # 6 measured requests and 1 warm-up, as the server counted them
    assert s.errors == 0 and s.output_tokens == generated - 16
    # a request-bounded window holds every measured request whole: throughput = the server's count / window
    assert s.output_throughput_tok_s == pytest.approx((generated - 16) / s.window_s, rel=1e-9)
