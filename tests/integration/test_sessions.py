"""Multi-turn sessions on real sockets: a session stays on one user, turns in order, think time honoured."""

from __future__ import annotations

import pytest

from deploybench import api, storage
from deploybench.schemas import Deployment, LoadConfig, RunConfig, Workload
from deploybench.engines import ExternalEngine
from deploybench.testing.servers import scripted_server

pytestmark = pytest.mark.slow


def test_session_stays_on_one_user_with_think_time(tmp_path):
    workload = Workload(source={"kind": "multi-turn", "sessions": 6, "turns": 3, "think_s": 0.2,
                                "user_tokens": 8, "answer_tokens": 8}, max_tokens=5)
    cfg = RunConfig(deployment=Deployment(name="chat", engine=ExternalEngine(url="http://x")), workload=workload,
                    load=LoadConfig(rounds=1, concurrency=[2], requests=12, warmup_requests=0, request_timeout_s=10))
    with scripted_server(ttft_ms=20, itl_ms=5) as url:
        cfg.deployment.engine.url = url
        study, (s,) = api.run(cfg, tmp_path, name="chat")
    recs = [r for r in storage.read_records(study / s.run_id) if not r.warmup]
    assert s.errors == 0 and len(recs) == 12
    by_session: dict[str, list] = {}
    for r in recs:
        by_session.setdefault(r.prompt_id.rsplit("-t", 1)[0], []).append(r)
    assert len(by_session) == 4  # 2 users x 2 sessions of 3 turns
    for sid, rs in by_session.items():
        rs.sort(key=lambda r: r.sent_ns)
        assert len({r.vu for r in rs}) == 1, sid  # one user carries the whole conversation
        assert [r.prompt_id for r in rs] == sorted(r.prompt_id for r in rs)  # turns in order
        for prev, nxt in zip(rs, rs[1:]):
            assert (nxt.sent_ns - prev.done_ns) / 1e9 >= 0.2  # the user thought before typing
            assert (nxt.sent_ns - nxt.scheduled_ns) / 1e6 < 50  # ... and that is not counted as lag
