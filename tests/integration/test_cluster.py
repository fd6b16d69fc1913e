"""Load workers and whole deployments on a Dask cluster (a LocalCluster on loopback) against scripted servers."""

from __future__ import annotations

import pytest

from deploybench import api, storage
from deploybench.sweep import validate_study
from deploybench.testing.servers import received, scripted_server

from .test_workers import TTFT, cfg_for, listening_not_loopback

distributed = pytest.importorskip("distributed")  # in the test extra: CI runs these
pytestmark = [pytest.mark.slow, pytest.mark.required]


@pytest.fixture
def cluster():
    # threads, not processes: seconds faster to start; its workers still talk to the scheduler over TCP
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, processes=False, protocol="tcp://",
                                  host="127.0.0.1", dashboard_address=None) as lc:
        yield lc


def test_dask_workers_store_aligned_records_that_summarize_like_one_process(tmp_path, cluster):
    levels = [{"kind": "rate", "rps": 40, "arrival": "constant"}]
    with scripted_server(ttft_ms=TTFT, itl_ms=10) as url:
        _, one = api.run(cfg_for(url, concurrency=[8], levels=levels, duration_s=1.5), tmp_path, name="one")
        study, dask = api.run(cfg_for(url, concurrency=[8], levels=levels, duration_s=1.5,
                                      cluster=cluster.scheduler_address), tmp_path, name="dask")
        assert not listening_not_loopback()  # scheduler, workers, scripted server: loopback only
    for a, b in zip(one, dask):
        recs = storage.read_records(study / b.run_id)
        assert {r.worker for r in recs} == {0, 1} and storage.read_meta(study / b.run_id).status == "complete"
        offsets = {r.worker: r.clock_offset_ns for r in recs}
        # the workers share this host's clock: the estimated offsets are round-trip noise, well under 2 ms
        assert all(o is not None and abs(o) < 2_000_000 for o in offsets.values()), offsets
        assert b.errors == 0 and abs(b.ttft_ms.p50 - a.ttft_ms.p50) < 5, (a.ttft_ms.p50, b.ttft_ms.p50)
        if b.level_kind == "rate":
            assert b.requests == a.requests == 60 and abs(b.achieved_rps - 40) / 40 < 0.02
        else:
            assert abs(b.requests - a.requests) <= 8, (a.requests, b.requests)
            assert abs(b.output_throughput_tok_s - a.output_throughput_tok_s) / a.output_throughput_tok_s < 0.1
        meta = storage.read_meta(study / b.run_id)  # the window on the aligned timeline holds the records
        assert meta.window_start_ns <= min(r.sent_ns for r in recs if not r.warmup)


def _two_deployment_study(urls: list[str]) -> dict:
    return {"name": "par", "deployments": [{"name": f"ep{i}", "engine": {"kind": "external", "url": u}}
                                           for i, u in enumerate(urls)],
            "workload": {"source": {"kind": "synthetic", "input_tokens": 16, "prompts": 500}, "max_tokens": 8},
            "load": {"concurrency": [2, 4], "duration_s": 1.0, "warmup_requests": 1, "request_timeout_s": 10}}


def test_parallel_deployments_land_in_one_folder_and_resume(tmp_path, cluster):
    with scripted_server(ttft_ms=20, itl_ms=5) as u0, scripted_server(ttft_ms=20, itl_ms=5) as u1:
        st = validate_study(_two_deployment_study([u0, u1]))
        study_dir, cells, failures = api.run_study(st, tmp_path, parallel_deployments=2,
                                                   cluster=cluster.scheduler_address)
        assert not failures and sorted(s.run_id for s in cells) == ["ep0__c2", "ep0__c4", "ep1__c2", "ep1__c4"]
        seen = (received(u0), received(u1))
        again_dir, again, failures = api.run_study(st, tmp_path, parallel_deployments=2,
                                                   cluster=cluster.scheduler_address)
        assert (received(u0), received(u1)) == seen and not failures  # resumed: nothing measured again
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
