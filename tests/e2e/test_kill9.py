"""``kill -9`` of deploybench mid-study, then ``run`` again (#11 item 11): at most the requests in
flight are lost, completed cells are not measured again, the interrupted cell is."""

from __future__ import annotations

import json
import signal
import subprocess
import time

from deploybench import storage
from deploybench.testing.servers import received, scripted_server
from tests.e2e.test_cli import CLI, run_cli

USERS = 2


def _args(url: str, out) -> list[str]:
    # c1 then c2, 40 requests each of ~100 ms (10 tokens, 10 ms apart)
    return ["run", "--rounds", "1", "--endpoint", url, "--model", "scripted", "-c", f"1,{USERS}", "-n", "40", "--max-tokens", "10",
            "--warmup", "1", "--out", str(out), "--name", "k9", "--no-report"]


def _stored(study) -> int:
    return sum(len(storage.read_records(d)) for d in study.iterdir() if (d / "records.jsonl").exists())


def test_kill9_loses_at_most_the_requests_in_flight_and_resume_measures_only_the_cut_cell(tmp_path):
    study = tmp_path / "k9"
    with scripted_server(ttft_ms=5, itl_ms=10) as url:
        proc = subprocess.Popen([*CLI, *_args(url, tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            second = study / f"endpoint__c{USERS}"
            deadline = time.monotonic() + 60
            while not ((second / "records.jsonl").exists() and len(storage.read_records(second)) >= 6):
                assert time.monotonic() < deadline and proc.poll() is None, "the second cell never started"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        time.sleep(0.3)  # requests in flight reach the server, or not
        lost = received(url) - _stored(study)
        first = study / "endpoint__c1"
        assert storage.read_meta(first).status == "complete"
        assert storage.read_meta(second).status == "running"  # killed: nobody wrote its end
        assert 0 <= lost <= USERS, f"{lost} requests the server read are in no stored record"
        first_started = storage.read_meta(first).started_at
        kept = len(storage.read_records(second))

        p = run_cli(*_args(url, tmp_path), "--json", timeout=120)
    assert p.returncode == 0, p.stderr
    assert "endpoint__c1: already complete, skipped" in p.stderr
    assert storage.read_meta(first).started_at == first_started  # not measured again
    assert {d["run_id"]: d["requests"] for d in json.loads(p.stdout)} == {"endpoint__c1": 40,
                                                                           f"endpoint__c{USERS}": 40}
    assert storage.read_meta(second).status == "complete"
    (aside,) = study.glob(f"endpoint__c{USERS}.incomplete-*")  # the cut try, kept with its records
    assert len(storage.read_records(aside)) == kept
    # and the user is told, with the name it is kept under
    assert f"endpoint__c{USERS}: an earlier try ended unfinished (running); kept as {aside.name}" in p.stderr, p.stderr
