"""Load workers: how a level is dealt, how records are aligned, clock offsets, and the one-line errors."""

from __future__ import annotations

import sys
import time

import psutil
import pytest
from pydantic import ValidationError

from deploybench.load import workers
from deploybench.load.cluster import clock_offset, connect
from deploybench.protocols.base import Prompt
from deploybench.schemas import ConfigError, LoadConfig


def test_dealt_prompts_keep_the_one_process_order():
    prompts = [Prompt(id=f"p{i}", text="x") for i in range(30)]
    n, cursor = 3, 5
    parts = [workers.dealt(prompts, cursor, n, w) for w in range(n)]
    # worker w's local request k is global request k * n + w, and gets prompt cursor + (k * n + w)
    for i in range(27):
        assert parts[i % n][i // n].id == prompts[(cursor + i) % 30].id
    assert [workers.share(10, 3, w) for w in range(3)] == [4, 3, 3]
    # a trace: prompt i belongs to arrival i, and arrivals are dealt i mod n
    assert [p.id for p in workers.dealt(prompts, 0, 3, 1, aligned=True)] == [f"p{i}" for i in range(1, 30, 3)]


def test_sessions_go_whole_to_one_worker():
    prompts = [Prompt(id=f"s{s}t{t}", text="x", session=s, turn=t) for s in range(4) for t in range(3)]
    parts = [workers.dealt(prompts, 0, 2, w) for w in range(2)]
    assert {p.session for p in parts[0]} == {0, 2} and {p.session for p in parts[1]} == {1, 3}
    assert all(len([p for p in part if p.session == s]) == 3 for part in parts for s in {p.session for p in part})


def test_aligned_record_shifts_every_time_and_numbers_like_one_process():
    d = {"index": 4, "vu": 2, "scheduled_ns": 100, "sent_ns": 110, "chunk_ns": (120, 130), "chunk_tokens": (1, 1),
         "first_content_ns": None, "done_ns": 140, "started_ns": 105, "headers_ns": None}
    rec = workers.aligned_record(d, w=1, workers=3, offset_ns=1_000)
    assert (rec.scheduled_ns, rec.sent_ns, rec.done_ns, rec.started_ns) == (1_100, 1_110, 1_140, 1_105)
    assert rec.chunk_ns == [1_120, 1_130] and rec.chunk_tokens == [1, 1] and rec.first_content_ns is None
    assert (rec.index, rec.vu, rec.worker, rec.clock_offset_ns) == (13, 7, 1, 1_000)


class SkewedClient:
    """A Dask client double whose one worker's clock runs 5 s behind ours, 2 ms away each way."""

    def run(self, fn, workers):
        time.sleep(0.002)
        t = fn() - 5_000_000_000
        time.sleep(0.002)
        return {workers[0]: t}


def test_clock_offset_is_found_within_its_error_bound():
    offset, err = clock_offset(SkewedClient(), "tcp://127.0.0.1:1")
    # the midpoint of the round trip: off by the asymmetry of the two legs, not by half the round trip
    assert 2_000_000 <= err < 20_000_000 and abs(offset - 5_000_000_000) < err / 2, (offset, err)


def test_cluster_without_dask_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    with pytest.raises(ConfigError) as exc:
        connect("tcp://127.0.0.1:8786")
    assert "pip install 'deploybench[dask]'" in exc.value.line() and "\n" not in exc.value.line()


def test_workers_and_cluster_settings_are_checked():
    assert LoadConfig(workers="auto").workers == "auto" and LoadConfig(workers=2).workers == 2
    for bad in ({"workers": 0}, {"workers": "many"}, {"cluster": "localhost:8786"}):
        with pytest.raises(ValidationError):
            LoadConfig(**bad)
    auto = LoadConfig(workers="auto")
    assert workers.worker_count(auto, [2, 3], local_server=True) == 2  # the cores the server leaves free
    assert workers.worker_count(auto, None, local_server=True) == 1  # sharing the server's cores: one
    assert workers.worker_count(LoadConfig(workers=3), None, local_server=True) == 3
    import os

    assert workers.worker_count(auto, None, local_server=False) == len(os.sched_getaffinity(0))  # server elsewhere


def test_contention_guard_counts_load_workers_as_the_client():
    import subprocess

    from deploybench.sweep.contention import CpuWatch

    server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(10)"])
    # a load worker: burns 0.4 s of CPU, then idles until killed
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.process_time()\n"
                             "while time.process_time() - t < 0.4: pass\ntime.sleep(30)"])
    try:
        with_pids = CpuWatch(server.pid, None, True, client_pids=[busy.pid])
        without = CpuWatch(server.pid, None, True)
        while sum(psutil.Process(busy.pid).cpu_times()[:2]) < 0.4:
            time.sleep(0.02)
        a, b = with_pids.result(), without.result()
    finally:
        for p in (server, busy):
            p.kill()
            p.wait()
    assert a["client_cpu_s"] >= 0.3 and b["client_cpu_s"] < 0.2, (a, b)
    assert b["foreign_share"] - a["foreign_share"] > 0.3 / (a["elapsed_s"] * len(a["cores"])) * 0.7, (a, b)
