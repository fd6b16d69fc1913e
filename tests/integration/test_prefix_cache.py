"""The real llama-server's prompt cache, seen through the shared-prefix workload: what a cached prefix is worth.

One slot (``parallel: 1``), one user: each request's ~1,150-token system prompt is either the one
the slot already holds (shared) or one it has never seen (unique, same lengths, same questions).
Prefill of the prefix is the difference, far above noise at concurrency 1. One thread: on a shared
2-core host two spinning ggml threads slow each other down many times over when another process runs.
"""

import pytest

from deploybench import api, storage
from deploybench.schemas import Deployment, LoadConfig, RunConfig, SharedPrefixWorkload, Workload
from deploybench.engines import LlamaCppEngine

pytestmark = [pytest.mark.slow, pytest.mark.required, pytest.mark.usefixtures("have_llama")]

REQUESTS = 4


def _run(tmp_path, unique: bool):
    source = SharedPrefixWorkload(prefixes=1, users_per_prefix=REQUESTS + 1, prefix_tokens=1250, suffix_tokens=16,
                                  unique_prefixes=unique)
    cfg = RunConfig(
        deployment=Deployment(name="smol", engine=LlamaCppEngine(threads=1, parallel=1, ctx_size=2048)),
        workload=Workload(source=source, max_tokens=4),
        load=LoadConfig(rounds=1, concurrency=[1], requests=REQUESTS, warmup_requests=1, contention_retries=0,
                        scrape_interval_s=0))
    name = "unique" if unique else "shared"
    study, (summary,) = api.run(cfg, tmp_path, name=name)
    recs = [r for r in storage.read_records(study / summary.run_id) if not r.warmup]
    return summary, recs


def test_shared_prefix_is_answered_faster_than_unique_prefixes(tmp_path):
    shared, shared_recs = _run(tmp_path, unique=False)
    unique, unique_recs = _run(tmp_path, unique=True)
    for s, recs in ((shared, shared_recs), (unique, unique_recs)):
        assert s.errors == 0 and len(recs) == REQUESTS
        assert all(r.input_tokens >= 1000 for r in recs), [r.input_tokens for r in recs]  # a long prefix, really
    assert {r.prompt_id.split("-")[1] for r in shared_recs} == {"p0"}  # every request: the one shared prefix
    assert len({r.prompt_id.split("-")[1] for r in unique_recs}) == REQUESTS  # each its own
    print(f"\nTTFT p50 at concurrency 1, ~{shared_recs[0].input_tokens}-token prompts: "
          f"shared prefix {shared.ttft_ms.p50:.1f} ms, unique prefixes {unique.ttft_ms.p50:.1f} ms")
    # the slot keeps the shared prefix's KV cache: only the question is prefilled
    assert shared.ttft_ms.p50 < 0.5 * unique.ttft_ms.p50
    assert shared.ttft_ms.max < unique.ttft_ms.min  # not one cached request as slow as any uncached one
