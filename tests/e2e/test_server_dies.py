"""A server that dies mid-run, seen from the CLI (#11 item 6): the run ends promptly, says which cell
failed and what to do; the next run measures that cell again."""

from __future__ import annotations

import time

from deploybench import storage
from deploybench.testing.servers import scripted_server
from tests.e2e.test_cli import run_cli


def test_cli_names_the_failed_cell_and_the_rerun_measures_it(tmp_path):
    args = ["run", "--rounds", "1", "--model", "scripted", "-c", "2", "-n", "2000", "--max-tokens", "4", "--warmup", "0",
            "--out", str(tmp_path), "--name", "dies", "--no-report"]
    with scripted_server(ttft_ms=2, itl_ms=1, exit_after=30) as url:
        t0 = time.monotonic()
        p = run_cli(*args, "--endpoint", url, timeout=60)
        assert time.monotonic() - t0 < 20
    assert "endpoint__c2: failed, the server died or stopped answering" in p.stderr, p.stderr
    assert "run the same command again" in p.stderr
    cell = tmp_path / "dies" / "endpoint__c2"
    assert storage.read_meta(cell).status == "failed"
    with scripted_server(ttft_ms=2, itl_ms=1) as url:
        p = run_cli(*[a if a != "2000" else "20" for a in args], "--endpoint", url, timeout=60)
    assert p.returncode == 0 and "failed, the server" not in p.stderr, p.stderr
    assert storage.read_meta(cell).status == "complete" and len(storage.read_records(cell)) == 20
