"""As a user meets them: a study folder on a full disk, and the same study started twice."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from deploybench import storage
from deploybench.testing.servers import scripted_server

pytestmark = pytest.mark.slow

CLI = [sys.executable, "-m", "deploybench"]


@pytest.fixture
def tiny_disk(tmp_path):
    """A 400 KiB tmpfs (root only: mounting needs it)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(mnt)], capture_output=True, text=True)
    if p.returncode != 0:  # a container without the right to mount
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _whole_lines(path) -> int:
    text = path.read_text()
    assert not text or text.endswith("\n"), "a half-written record line"
    for line in text.splitlines():
        json.loads(line)
    return len(text.splitlines())


def test_full_disk_one_line_whole_records_then_resume(tiny_disk):
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        args = [*CLI, "run", "--endpoint", url, "--concurrency", "4", "--max-tokens", "16", "--out", str(tiny_disk),
                "--name", "full", "--no-report", "--rounds", "1"]
        t0 = time.monotonic()
        p = subprocess.run([*args, "--requests", "20000"], capture_output=True, text=True, timeout=300)
        took = time.monotonic() - t0
        assert p.returncode == storage.DiskFullError.exit_code, p.stderr[-3000:]
        assert "Traceback" not in p.stderr and "Exception in callback" not in p.stderr, p.stderr[-3000:]
        lines = [ln for ln in p.stderr.splitlines() if "disk full" in ln]
        assert len(lines) == 1 and "free space" in lines[0], p.stderr[-3000:]
        assert took < 60, f"the first failed write must stop the level at once (took {took:.0f} s)"
        cell = tiny_disk / "full" / "endpoint__c4"
        assert _whole_lines(cell / storage.RECORDS) > 0
        assert storage.read_meta(cell).status in ("interrupted", "running")  # running: its meta could not be written
        # free space, run again: the interrupted cell is set aside and measured again
        subprocess.run(["mount", "-o", "remount,size=64m", str(tiny_disk)], check=True)
        p = subprocess.run([*args, "--requests", "200"], capture_output=True, text=True, timeout=300)
        assert p.returncode == 0, p.stderr[-3000:]
        assert storage.read_meta(cell).status == "complete" and _whole_lines(cell / storage.RECORDS) >= 200
        aside = [d.name for d in (tiny_disk / "full").iterdir() if ".incomplete-" in d.name]
        assert len(aside) == 1, aside
        assert "endpoint__c4: an earlier try ended unfinished" in p.stderr and f"kept as {aside[0]}" in p.stderr


def test_a_second_run_of_the_same_study_is_refused_and_the_first_completes(tmp_path):
    with scripted_server(ttft_ms=20, itl_ms=5) as url:
        args = [*CLI, "run", "--endpoint", url, "--concurrency", "2", "--duration", "4", "--max-tokens", "16",
                "--out", str(tmp_path), "--name", "same", "--no-report", "--rounds", "1"]
        first = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        second = subprocess.run(args, capture_output=True, text=True, timeout=120)
        out, errs = first.communicate(timeout=120)
    assert second.returncode != 0 and "Traceback" not in second.stderr
    assert f"study `same` is being measured by pid {first.pid} since" in second.stderr, second.stderr
    assert "results:" not in second.stdout + second.stderr
    assert first.returncode == 0, errs[-2000:]
    cell = tmp_path / "same" / "endpoint__c2"
    assert storage.read_meta(cell).status == "complete"
    assert not [d for d in (tmp_path / "same").iterdir() if ".incomplete-" in d.name]
