"""Failure paths of storage: a full disk leaves whole lines and one error; one writer per study."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deploybench import storage
from deploybench.schemas import RequestRecord, RunMeta
from deploybench.storage.lock import StudyBusy, StudyLock


def _rec(i: int) -> RequestRecord:
    return RequestRecord(index=i, vu=0, scheduled_ns=i, sent_ns=i + 1, chunk_ns=[i + 2], chunk_tokens=[1],
                         done_ns=i + 3, output_tokens=1, token_source="usage")


class _FullAfter:
    """os.write that fails with ENOSPC once ``room`` bytes were written, after a short write (as a disk does)."""

    def __init__(self, room: int) -> None:
        self.room, self.real = room, os.write

    def __call__(self, fd, data) -> int:
        if self.room <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = min(len(data), self.room)
        self.room -= n
        return self.real(fd, bytes(data[:n]))


def test_a_full_disk_leaves_whole_lines_and_one_error(tmp_path, monkeypatch):
    w = storage.RunWriter(tmp_path / "cell", RunMeta(run_id="cell", concurrency=1))
    seen = []
    w.on_error = seen.append
    w.append(_rec(0))
    w.flush()
    line = len(_rec(0).model_dump_json()) + 1
    monkeypatch.setattr(os, "write", _FullAfter(line + line // 2))  # room for one and a half more lines
    for i in range(1, 5):
        w.append(_rec(i))  # never raises inside the event loop's callbacks
    w.flush()  # records are written by the writer thread
    monkeypatch.undo()
    assert len(seen) == 1 and isinstance(seen[0], storage.DiskFullError) and w.error is seen[0]
    assert "disk full" in seen[0].line() and "free space" in seen[0].line()
    text = (tmp_path / "cell" / storage.RECORDS).read_text()
    assert text.endswith("\n") and len(text.splitlines()) == 2  # the half line was cut back
    assert [r.index for r in storage.read_records(tmp_path / "cell")] == [0, 1]
    assert w.count == 2
    w.close("interrupted")
    assert storage.read_meta(tmp_path / "cell").status == "interrupted"


def test_replaced_files_are_whole_or_absent(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    storage.atomic_write(path, "old")
    with pytest.raises(storage.DiskFullError):
        with storage.replacing(path) as tmp:
            tmp.write_text("partial")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert path.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


def test_one_writer_per_study(tmp_path):
    study = tmp_path / "same"
    with StudyLock(study):
        with pytest.raises(StudyBusy) as exc:
            with StudyLock(study):
                pass
        line = exc.value.line()
        assert f"pid {os.getpid()} since" in line and "same" in line and "--name" in line
    with StudyLock(study):  # released on exit
        pass


def test_a_killed_holder_leaves_no_stale_lock_and_wait_blocks_until_free(tmp_path):
    study = tmp_path / "s"
    code = ("import sys, time; from pathlib import Path; from deploybench.storage.lock import StudyLock\n"
            f"l = StudyLock(Path({str(study)!r})).__enter__(); print('held', flush=True); time.sleep(float(sys.argv[1]))")
    p = subprocess.Popen([sys.executable, "-c", code, "60"], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    with pytest.raises(StudyBusy):
        StudyLock(study).__enter__()
    p.kill()  # kill -9: the OS drops the lock
    p.wait()
    with StudyLock(study):
        pass
    p = subprocess.Popen([sys.executable, "-c", code, "1.0"], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    said, t0 = [], time.monotonic()
    with StudyLock(study, wait=True, say=said.append):
        waited = time.monotonic() - t0
    p.wait()
    assert len(said) == 1 and "waiting" in said[0] and waited > 0.3
