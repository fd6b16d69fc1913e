"""Studies from the CLI: dry run, full run, Ctrl-C then resume without re-measuring."""

import json
import signal
import subprocess
import time

import pytest
import yaml

from deploybench import storage
from tests.e2e.test_cli import CLI, run_cli
from tests.procs import llama_servers_on


def _port(meta) -> int | None:
    argv = meta.engine.argv if meta.engine else []
    return int(argv[argv.index("--port") + 1]) if "--port" in argv else None


STUDY = {
    "name": "mini",
    "models": [{"name": "smol", "source": "smollm2"}],
    "quantizations": ["native"],
    "hardware": [{"name": "one-core", "threads": 1, "cpu_set": [0], "price_per_hour": 0.02},
                 {"name": "two-cores", "threads": 2, "price_per_vcpu_hour": 0.02}],
    "engine": {"kind": "llamacpp", "settings": {"parallel": 2, "ctx_size": 1024}},
    "workload": {"source": {"kind": "synthetic", "input_tokens": 24, "prompts": 8}, "max_tokens": 8},
    "load": {"rounds": 1, "concurrency": [1, 2], "requests": 4, "warmup_requests": 1},
}


def _write(tmp_path, **over):
    p = tmp_path / "study.yaml"
    p.write_text(yaml.safe_dump({**STUDY, **over}))
    return p


def test_dry_run_starts_nothing(tmp_path):
    p = run_cli("run", str(_write(tmp_path)), "--dry-run", "--out", str(tmp_path / "runs"))
    assert p.returncode == 0, p.stderr
    assert "4 cells (4 to run)" in p.stdout and "smol_native_one-core" in p.stdout
    assert "estimated cost $" in p.stdout
    assert not (tmp_path / "runs" / "mini").exists()


def test_bad_study_is_one_line(tmp_path):
    p = run_cli("run", str(_write(tmp_path, quantizations=["Q9"])), "--out", str(tmp_path))
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1
    assert "study.yaml: quantizations: unknown quantization 'Q9'" in p.stderr


@pytest.mark.slow
def test_interrupt_then_resume(tmp_path, have_llama):
    study = _write(tmp_path, load={**STUDY["load"], "requests": 6})
    out = tmp_path / "runs"
    args = [*CLI, "run", str(study), "--out", str(out), "--rounds", "1"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = out / "mini" / "smol_native_one-core__c1"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if (first / "meta.json").exists() and storage.read_meta(first).status == "complete":
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("first cell never completed")
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    # the servers' command lines hold their ports (not the study folder): look for those
    ports = {_port(storage.read_meta(d)) for d in (out / "mini").glob("*__c*") if (d / "meta.json").exists()}
    assert ports and None not in ports
    deadline = time.monotonic() + 10
    while any(llama_servers_on(p) for p in ports) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in ports if llama_servers_on(p)] == [], "llama-server left running"
    before = {d.name: storage.read_meta(d).started_at for d in storage.run_dirs(out / "mini")
              if storage.read_meta(d).status == "complete"}
    assert "smol_native_one-core__c1" in before
    p = run_cli("run", str(study), "--out", str(out), "--json")
    assert p.returncode == 0, p.stderr
    assert "already complete, skipped" in p.stderr
    data = json.loads(p.stdout)
    assert sorted((d["deployment"], d["concurrency"]) for d in data) == [
        ("smol_native_one-core", 1), ("smol_native_one-core", 2), ("smol_native_two-cores", 1),
        ("smol_native_two-cores", 2)]
    for d in storage.run_dirs(out / "mini"):
        meta = storage.read_meta(d)
        assert meta.status == "complete"
        if d.name in before:
            assert meta.started_at == before[d.name], "a completed cell was measured again"
    assert all(d["errors"] == 0 and d["requests"] == 6 for d in data)
