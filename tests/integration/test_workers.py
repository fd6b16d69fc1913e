"""Load from several client processes (``load.workers``) or Dask workers (``load.cluster``) against the
scripted server: merged records summarize like one process, the coordinator's adaptive window stops
every worker, a dead worker fails the cell without losing what it streamed; whole deployments in
parallel on a Dask LocalCluster land in one study folder and resume."""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

from deploybench import api, storage
from deploybench.engines import ExternalEngine
from deploybench.engines.process import free_port
from deploybench.schemas import Deployment, LoadConfig, RunConfig, SyntheticWorkload, Workload
from deploybench.sweep import validate_study
from deploybench.testing.servers import received, scripted_server

pytestmark = pytest.mark.slow

TTFT, ITL, TOKENS = 50, 10, 16


def cfg_for(url: str, **load) -> RunConfig:
    load = {"warmup_requests": 1, "request_timeout_s": 10, "rounds": 1, **load}
    return RunConfig(deployment=Deployment(name="scripted", engine=ExternalEngine(url=url)),
                     workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=3000), max_tokens=TOKENS),
                     load=LoadConfig(**load))


def listening_not_loopback() -> list:
    """Listening sockets of this process and its children that are not on 127.0.0.1/::1."""
    bad = []
    for p in [psutil.Process()] + psutil.Process().children(recursive=True):
        try:
            conns = p.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        bad += [(p.pid, c.laddr) for c in conns
                if c.status == psutil.CONN_LISTEN and c.laddr.ip not in ("127.0.0.1", "::1")]
    return bad


LEVELS = {"concurrency": [8], "levels": [{"kind": "rate", "rps": 40, "arrival": "constant"}], "duration_s": 1.5}


@pytest.fixture(scope="module")
def server():
    with scripted_server(ttft_ms=TTFT, itl_ms=ITL) as url:
        yield url


@pytest.fixture(scope="module")
def one_process(server, tmp_path_factory):
    """The reference: the same levels from one process, on the same server."""
    return api.run(cfg_for(server, **LEVELS), tmp_path_factory.mktemp("one"), name="one")[1]


def test_two_workers_store_merged_records_that_summarize_like_one(tmp_path, server, one_process):
    study, two = api.run(cfg_for(server, **LEVELS, workers=2), tmp_path, name="two")
    assert not listening_not_loopback()
    same_as_one_process(one_process, two, study)
    # one host, one CLOCK_MONOTONIC: local workers' times need no correction
    assert all(r.clock_offset_ns == 0 for s in two for r in storage.read_records(study / s.run_id))


def same_as_one_process(one, two, study) -> None:
    per_req = (TTFT + (TOKENS - 1) * ITL) / 1000
    for a, b in zip(one, two):
        recs = storage.read_records(study / b.run_id)
        assert {r.worker for r in recs} == {0, 1}
        assert storage.read_meta(study / b.run_id).status == "complete"
        assert len({r.index for r in recs}) == len(recs)  # numbered as one process numbers them
        assert b.errors == 0 and abs(b.ttft_ms.p50 - TTFT) < 15 and abs(b.ttft_ms.p50 - a.ttft_ms.p50) < 8
        if b.level_kind == "rate":  # the whole schedule, dealt between the workers, left on time
            assert b.requests == a.requests == 60, (a.requests, b.requests)
            assert abs(b.achieved_rps - 40) / 40 < 0.02, b.achieved_rps
            assert abs(b.request_throughput_rps - a.request_throughput_rps) / a.request_throughput_rps < 0.03
        else:  # 8 users x 1.5 s / (50 ms + 15 x 10 ms)
            expect = 8 * 1.5 / per_req
            assert 0.85 * expect <= b.requests <= 8 + 1.1 * expect, (b.requests, expect)
            assert abs(b.requests - a.requests) <= 8
            assert abs(b.output_throughput_tok_s - a.output_throughput_tok_s) / a.output_throughput_tok_s < 0.1
            assert sorted({r.vu for r in recs if not r.warmup}) == list(range(8))


def test_adaptive_window_is_decided_by_the_coordinator_for_every_worker(tmp_path, server):
    cfg = cfg_for(server, concurrency=[6], min_duration_s=1.0, max_duration_s=20, target_half_width=0.2, workers=2)
    study, (s,) = api.run(cfg, tmp_path, name="adaptive")
    meta = storage.read_meta(study / s.run_id)
    length = (meta.window_end_ns - meta.window_start_ns) / 1e9
    assert "imprecise" not in meta.flags and meta.status == "complete"
    assert 1.0 <= length < 8, length  # stopped once tight, far before max_duration_s
    recs = [r for r in storage.read_records(study / s.run_id) if not r.warmup]
    last_sent = {w: max(r.sent_ns for r in recs if r.worker == w) for w in (0, 1)}
    # every worker stopped starting requests at the coordinator's instant (read ahead of it), not at its own max
    assert all(t <= meta.window_end_ns + 5_000_000 for t in last_sent.values()), (last_sent, meta.window_end_ns)


def load_worker_procs() -> list[psutil.Process]:
    """deploybench's load worker processes (children of the fork server, or spawned)."""
    out = []
    for p in psutil.Process().children(recursive=True):
        try:
            parent = p.parent()
            if "forkserver" in " ".join(parent.cmdline()) or "spawn_main" in " ".join(p.cmdline()):
                out.append(p)
        except psutil.Error:
            continue
    return out


class KillWorker:
    """A reporter that SIGKILLs one load worker process after it has streamed some records."""

    def __init__(self, after: int = 15) -> None:
        self.after, self.seen, self.victim, self.streamed = after, 0, None, 0

    def cell_started(self, *a) -> None: ...
    def cell_finished(self, s) -> None: ...
    def cell_skipped(self, s) -> None: ...

    def request_done(self, rec) -> None:
        self.seen += 1
        if self.victim is None and self.seen >= self.after:
            self.victim = min(load_worker_procs(), key=lambda p: p.create_time())
            os.kill(self.victim.pid, signal.SIGKILL)
            self.streamed, self.at_ns = self.seen, time.monotonic_ns()


def test_a_dead_worker_fails_the_cell_and_keeps_what_it_streamed(tmp_path, server):
    killer = KillWorker()
    study, (s,) = api.run(cfg_for(server, concurrency=[8], duration_s=6, workers=2), tmp_path, name="dead",
                          reporter=killer)
    meta = storage.read_meta(study / s.run_id)
    recs = storage.read_records(study / s.run_id)
    assert killer.victim is not None and meta.status == "failed" and "load worker" in (meta.note or ""), meta.note
    assert len(recs) >= killer.streamed and {r.worker for r in recs} == {0, 1}
    # the survivor was stopped at once (its requests in flight drain), not left to run out the 6 s window
    assert max(r.sent_ns for r in recs) < killer.at_ns + 500_000_000
    assert not load_worker_procs()  # the pool's processes are gone with it


# --------------------------------------------------------------------------- Dask (a LocalCluster on loopback)


@pytest.fixture
def cluster():
    distributed = pytest.importorskip("distributed")  # deploybench[dask], in the test extra: CI runs these
    # threads, not processes: seconds faster to start; its workers still talk to the scheduler over TCP
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as lc:
        yield lc


@pytest.mark.required
def test_dask_workers_store_aligned_records_that_summarize_like_one_process(tmp_path, server, one_process, cluster):
    study, dask = api.run(cfg_for(server, **LEVELS, cluster=cluster.scheduler_address), tmp_path, name="dask")
    assert not listening_not_loopback()  # scheduler, workers, scripted server: loopback only
    same_as_one_process(one_process, dask, study)
    for b in dask:
        recs = storage.read_records(study / b.run_id)
        offsets = {r.worker: r.clock_offset_ns for r in recs}
        # the workers share this host's clock: the estimated offsets are round-trip noise, well under 2 ms
        assert all(o is not None and abs(o) < 2_000_000 for o in offsets.values()), offsets
        meta = storage.read_meta(study / b.run_id)  # the window on the aligned timeline holds the records
        assert meta.window_start_ns <= min(r.sent_ns for r in recs if not r.warmup)


@pytest.mark.required
def test_clock_offset_of_a_worker_process_with_its_own_clock_is_recovered(monkeypatch):
    """Workers in their own processes, their clock 250 ms ahead (the test hook on the worker's clock): the
    NTP-style estimate finds -250 ms within 2 ms (one shared clock could not tell an estimator that
    always says 0 from a right one)."""
    distributed = pytest.importorskip("distributed")
    from deploybench.load import cluster as cluster_mod

    skew = 250_000_000
    monkeypatch.setenv(cluster_mod.SKEW_ENV, str(skew))  # inherited by the worker processes only at start
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as lc:
        monkeypatch.delenv(cluster_mod.SKEW_ENV)
        with distributed.Client(lc) as client:
            (addr,) = client.scheduler_info()["workers"]
            offset, error = cluster_mod.clock_offset(client, addr)
    assert abs(offset + skew) < 2_000_000 and error < 2_000_000, (offset, error)


def _two_deployment_study(urls: list[str]) -> dict:
    return {"name": "par", "deployments": [{"name": f"ep{i}", "engine": {"kind": "external", "url": u}}
                                           for i, u in enumerate(urls)]
            + [{"name": "gone", "engine": {"kind": "external", "url": f"http://127.0.0.1:{free_port()}"}}],
            "workload": {"source": {"kind": "synthetic", "input_tokens": 16, "prompts": 500}, "max_tokens": 8},
            "load": {"rounds": 1, "concurrency": [2, 4], "duration_s": 1.0, "warmup_requests": 1, "request_timeout_s": 10}}


@pytest.mark.required
def test_parallel_deployments_land_in_one_folder_and_resume(tmp_path, server, cluster):
    # two cheap deployments: two endpoints (one scripted server behind both) and one that is not there
    st = validate_study(_two_deployment_study([server, server]))
    study_dir, cells, failures = api.run_study(st, tmp_path, parallel_deployments=2, cluster=cluster.scheduler_address)
    assert sorted(s.run_id for s in cells) == ["ep0__c2", "ep0__c4", "ep1__c2", "ep1__c4"]
    # a deployment that fails is one line; the others are measured and stored all the same
    assert len(failures) == 1 and failures[0].startswith("gone: ") and "\n" not in failures[0], failures
    seen = received(server)
    _, again, failures = api.run_study(st, tmp_path, parallel_deployments=2, cluster=cluster.scheduler_address)
    assert received(server) == seen and len(failures) == 1  # resumed: nothing measured again
    assert sorted(s.run_id for s in again) == sorted(s.run_id for s in cells)
    assert sorted(p.name for p in study_dir.iterdir() if p.is_dir()) == ["ep0__c2", "ep0__c4", "ep1__c2", "ep1__c4"]
    metas = {d.name: storage.read_meta(d) for d in storage.run_dirs(study_dir)}
    assert all(m.status == "complete" for m in metas.values())
    for d in metas:
        recs = storage.read_records(study_dir / d)
        assert recs and len(recs) == next(s.requests for s in cells if s.run_id == d) + 1  # + the warm-up
    # the two deployments were measured at the same time (one host here: one clock)
    a, b = metas["ep0__c4"], metas["ep1__c4"]
    assert min(a.window_end_ns, b.window_end_ns) > max(a.window_start_ns, b.window_start_ns), (a, b)


class KillDaskWorker(KillWorker):
    """SIGKILLs one Dask worker process (the nanny's child) after some records have streamed."""

    def __init__(self, cluster, after: int = 15) -> None:
        super().__init__(after)
        self.cluster = cluster

    def request_done(self, rec) -> None:
        self.seen += 1
        if self.victim is None and self.seen >= self.after:
            nanny = next(iter(self.cluster.workers.values()))
            self.victim = psutil.Process(nanny.process.pid)
            os.kill(self.victim.pid, signal.SIGKILL)
            self.streamed, self.at_ns = self.seen, time.monotonic_ns()


@pytest.mark.timeout(180)  # before the fix it never ended: the dead worker's task waited for its old address
def test_a_killed_dask_worker_fails_the_cell_in_bounded_time(tmp_path, server):
    """A Dask worker process killed mid-level (its nanny restarts it under a new address, so its task can
    never finish): the cell is stored failed at once with what was streamed, nothing hangs."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as lc:
        killer = KillDaskWorker(lc)
        t0 = time.monotonic()
        study, (s,) = api.run(cfg_for(server, concurrency=[8], duration_s=6, cluster=lc.scheduler_address),
                              tmp_path, name="daskdead", reporter=killer)
        took = time.monotonic() - t0
    meta = storage.read_meta(study / s.run_id)
    recs = storage.read_records(study / s.run_id)
    assert killer.victim is not None and meta.status == "failed" and "load worker" in (meta.note or ""), meta.note
    assert len(recs) >= killer.streamed and took < 60, (len(recs), took)
    print(f"killed Dask worker {killer.victim.pid} after {killer.streamed} records; cell failed in {took:.1f} s: "
          f"{meta.note}; {len(recs)} records kept")
