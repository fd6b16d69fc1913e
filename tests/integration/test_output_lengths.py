"""Per-request output lengths travel to the server: each request asks for its own max_tokens (scripted server)."""

import json

from deploybench import api, storage
from deploybench.schemas import Deployment, LoadConfig, RunConfig, SamplesWorkload, Workload
from deploybench.engines import ExternalEngine
from deploybench.testing.servers import scripted_server

ANSWERS = [5, 9, 3, 12, 7]


def test_samples_answer_tokens_become_each_requests_max_tokens(tmp_path):
    samples = tmp_path / "samples.json"
    samples.write_text(json.dumps([[f"prompt {i}", 10, n] for i, n in enumerate(ANSWERS)]))
    cfg = RunConfig(deployment=Deployment(name="scripted", engine=ExternalEngine(url="http://x")),
                    workload=Workload(source=SamplesWorkload(path=samples, output_lengths=True), max_tokens=50),
                    load=LoadConfig(rounds=1, concurrency=[1], requests=4, warmup_requests=1, request_timeout_s=10))
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        cfg.deployment.engine.url = url
        study, (s,) = api.run(cfg, tmp_path, name="lengths")
    recs = storage.read_records(study / s.run_id)
    assert [(r.prompt_id, r.max_tokens) for r in recs] == [(f"sample-{i}", n) for i, n in enumerate(ANSWERS)]
    # the scripted server generates what was asked: usage and the stream agree with each request's own length
    assert all(r.output_tokens == r.max_tokens == len(r.chunk_ns) for r in recs)
    assert s.errors == 0 and s.stopped_short == 0 and s.output_tokens == sum(ANSWERS[1:])
