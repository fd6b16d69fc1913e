"""The CLI as a user runs it: one-line errors, JSON output, Ctrl-C / SIGTERM / kill -9 safety."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploybench import storage
from deploybench.testing.servers import scripted_server
from tests.procs import llama_servers_on

CLI = [sys.executable, "-m", "deploybench"]


def run_cli(*args, timeout=240, cwd=None):
    """The CLI in a subprocess. A ``run`` that names no ``--rounds`` (and is not ``--quick``) measures one
    round: these tests check one run's own figures; the rounds' tests say how many they want."""
    if args and args[0] == "run" and "--rounds" not in args and "--quick" not in args and "--help" not in args:
        args = (*args, "--rounds", "1")
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd)


def assert_one_line_error(p, *words):
    assert p.returncode != 0
    err = p.stderr.strip()
    assert "Traceback" not in p.stderr and "Traceback" not in p.stdout
    assert len(err.splitlines()) == 1, err
    for w in words:
        assert w in err, err


def test_unknown_option():
    assert_one_line_error(run_cli("run", "--bogus"), "No such option", "--bogus", "--help")


def test_missing_model_file(tmp_path):
    assert_one_line_error(run_cli("run", "--model", str(tmp_path / "nope.gguf"), "--out", str(tmp_path)),
                          "model", "nope.gguf", "GGUF path")


def test_unreachable_endpoint(tmp_path):
    from deploybench.engines.process import free_port

    p = run_cli("run", "--endpoint", f"http://127.0.0.1:{free_port()}", "-n", "2", "--out", str(tmp_path))
    assert_one_line_error(p, "unreachable", "--endpoint")


def test_not_openai_compatible(tmp_path):
    import http.server
    import threading

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        p = run_cli("run", "--endpoint", f"http://127.0.0.1:{srv.server_address[1]}", "-n", "1",
                    "--out", str(tmp_path), cwd=tmp_path)
    finally:
        srv.shutdown()
    assert_one_line_error(p, "not OpenAI-compatible", "/v1/models")


def test_bad_concurrency_and_endpoint_url(tmp_path):
    assert_one_line_error(run_cli("run", "-c", "0,2"), "--concurrency")
    assert_one_line_error(run_cli("run", "--endpoint", "localhost:8000"), "--endpoint", "http://")


def test_port_in_use(tmp_path, have_llama):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert_one_line_error(run_cli("run", "--port", str(port), "--out", str(tmp_path)), "port", "in use")


def test_endpoint_json_output(tmp_path):
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        p = run_cli("run", "--endpoint", url, "--model", "scripted", "-c", "1,4", "-n", "8", "--max-tokens", "10",
                    "--out", str(tmp_path), "--name", "j", "--json")
    assert p.returncode == 0, p.stderr
    data = json.loads(p.stdout)
    assert [d["concurrency"] for d in data] == [1, 4]
    for d in data:
        assert d["requests"] == 8 and d["errors"] == 0 and d["output_tokens"] == 80
        for key in ("ttft_ms", "tpot_ms", "itl_ms", "e2e_ms", "ms_per_token", "schedule_lag_ms"):
            assert {"p50", "p90", "p99"} <= set(d[key])
        assert d["output_throughput_tok_s"] > 0
    # summarize re-reads the stored records and agrees
    p2 = run_cli("summarize", str(tmp_path / "j"), "--json")
    assert [round(d["output_throughput_tok_s"], 6) for d in json.loads(p2.stdout)] == \
           [round(d["output_throughput_tok_s"], 6) for d in data]


@pytest.mark.parametrize("suffix", ["/v1", "/v1/"])
def test_endpoint_accepts_the_openai_base_url(tmp_path, suffix):
    """``--endpoint http://host:port/v1`` (what the OpenAI SDK calls base_url) works like the server root."""
    with scripted_server(ttft_ms=2, itl_ms=1) as url:
        p = run_cli("run", "--endpoint", url + suffix, "-c", "1", "-n", "2", "--max-tokens", "4",
                    "--out", str(tmp_path), "--name", "v1", "--json")
    assert p.returncode == 0, p.stderr
    (d,) = json.loads(p.stdout)
    assert d["requests"] == 2 and d["errors"] == 0 and d["output_tokens"] == 8
    assert storage.read_meta(next((tmp_path / "v1").glob("*__c1"))).engine.url == url


def test_api_key_is_in_no_stored_file_log_or_report(tmp_path):
    """A canary key passed through --api-key-env appears nowhere under the run folder (records, meta,
    summaries, logs, every report format) nor in the output; the variable's name is stored."""
    import os
    import secrets

    canary = "sk-canary-" + secrets.token_hex(12)
    env = {**os.environ, "DEPLOYBENCH_TEST_CANARY_KEY": canary}
    with scripted_server(ttft_ms=2, itl_ms=1) as url:
        p = subprocess.run([*CLI, "run", "--rounds", "1", "--endpoint", url, "--api-key-env", "DEPLOYBENCH_TEST_CANARY_KEY", "-c", "1,2",
                            "-n", "3", "--max-tokens", "4", "--out", str(tmp_path), "--name", "k", "--json"],
                           capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == 0, p.stderr
    r = subprocess.run([*CLI, "report", str(tmp_path / "k")], capture_output=True, text=True, timeout=240, env=env)
    assert r.returncode == 0, r.stderr
    files = [f for f in tmp_path.rglob("*") if f.is_file()]
    assert any(f.suffix == ".html" for f in files) and any(f.name == "records.jsonl" for f in files)
    assert any(b"DEPLOYBENCH_TEST_CANARY_KEY" in f.read_bytes() for f in files)  # the grep finds what is stored
    assert [f for f in files if canary.encode() in f.read_bytes()] == []
    assert canary not in p.stdout + p.stderr + r.stdout + r.stderr


def _ignore_sigint() -> None:  # what `cmd &` in a script does to the child
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_a_run_started_in_the_background(tmp_path, sig):
    """Started with SIGINT ignored (``&`` from a script), SIGTERM (and SIGINT) still stop the run at once."""
    with scripted_server(ttft_ms=2, itl_ms=2) as url:
        proc = subprocess.Popen([*CLI, "run", "--rounds", "1", "--endpoint", url, "-c", "2", "-n", "100000", "--max-tokens", "20",
                                 "--out", str(tmp_path), "--name", "bg"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, preexec_fn=_ignore_sigint)
        try:
            run = _wait_for_records(tmp_path / "bg", 5, timeout=60)
            proc.send_signal(sig)
            t0 = time.monotonic()
            _, err = proc.communicate(timeout=15)
            took = time.monotonic() - t0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert "interrupted — measurements taken so far are saved" in err, err  # says what happened and how to resume
    assert took < 10
    assert storage.read_meta(run).status == "interrupted"


def _wait_for_records(study: Path, n: int, timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for run in study.glob("*__c*"):
            if len(storage.read_records(run)) >= n:
                return run
        time.sleep(0.2)
    raise AssertionError("no records appeared")


@pytest.mark.slow
@pytest.mark.parametrize("sig, background", [(signal.SIGINT, False), (signal.SIGTERM, False),
                                             (signal.SIGKILL, False), (signal.SIGTERM, True)])
def test_interrupt_keeps_records_and_leaves_no_server(tmp_path, have_llama, sig, background):
    proc = subprocess.Popen([*CLI, "run", "--rounds", "1", "-c", "2", "-n", "400", "--max-tokens", "8", "--out", str(tmp_path),
                             "--name", "int", "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=_ignore_sigint if background else None)
    try:
        run = _wait_for_records(tmp_path / "int", 5)
        meta = storage.read_meta(run)
        port = int(meta.engine.argv[meta.engine.argv.index("--port") + 1])
        assert llama_servers_on(port), "server should be running during the run"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    kept = storage.read_records(run)
    assert len(kept) >= 5
    deadline = time.monotonic() + 10
    while llama_servers_on(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert llama_servers_on(port) == [], "llama-server left running"
    if sig != signal.SIGKILL:
        assert proc.returncode == 130 and "Traceback" not in err
        assert storage.read_meta(run).status == "interrupted"
