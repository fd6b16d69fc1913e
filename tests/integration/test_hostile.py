"""Hostile servers stay bounded: each of the scripted server's hostile answers ends the request as an
error of a named kind, the level finishes, and the client's peak RSS stays within 200 MB of its RSS
before the level."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from deploybench.testing.servers import scripted_server

pytestmark = pytest.mark.slow

DRIVER = r"""
import json, sys, tempfile, threading
import psutil
from deploybench import api
from deploybench.engines import ExternalEngine
from deploybench.schemas import Deployment, LoadConfig, RunConfig, SyntheticWorkload, Workload
from deploybench.sweep import NullReporter

class Rss(NullReporter):
    # RSS when the level starts, and its peak until the level ends (sampled every 2 ms by a thread)
    before = peak = None
    def cell_started(self, run_id, concurrency, cfg):
        self.before = self.peak = psutil.Process().memory_info().rss
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
    def sample(self):
        me = psutil.Process()
        while not self.stop.wait(0.002):
            self.peak = max(self.peak, me.memory_info().rss)
    def cell_finished(self, summary):
        self.stop.set()
        self.thread.join()

url, model = sys.argv[1], sys.argv[2]
cfg = RunConfig(deployment=Deployment(name="hostile", engine=ExternalEngine(url=url, model=model)),
                workload=Workload(source=SyntheticWorkload(input_tokens=8, prompts=16), max_tokens=8),
                load=LoadConfig(rounds=1, concurrency=[2], requests=4, warmup_requests=0, stall_timeout_s=6,
                                request_timeout_s=60, scrape_interval_s=0, contention_retries=0, pin_client=False))
rep = Rss()
_, (s,) = api.run(cfg, tempfile.mkdtemp(), name="h", reporter=rep)
print(json.dumps({"errors": s.errors, "requests": s.requests, "kinds": s.errors_by_kind,
                  "over_mb": (rep.peak - rep.before) / 2**20}))
"""

EXPECTED = {
    "fault-endless-line": "oversized-event",
    "fault-huge-event": "oversized-event",
    "fault-bad-utf8": "malformed",
    "fault-many-headers": "malformed",
    "fault-trickle": "timeout-stalled",
    "fault-content-length": "connection-dropped",
    "fault-redirect": "http-307",
}


@pytest.fixture(scope="module")
def hostile_url():
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        yield url


@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_hostile_answer_is_a_named_error_with_bounded_memory(hostile_url, model):
    p = subprocess.run([sys.executable, "-c", DRIVER, hostile_url, model], capture_output=True, text=True, timeout=240)
    assert p.returncode == 0, p.stderr[-2000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    print(model, got)
    assert got["requests"] == 4 and got["errors"] == 4, got
    assert got["kinds"] == {EXPECTED[model]: 4}, got
    assert got["over_mb"] <= 200, got


def test_models_answering_html_is_one_line():
    with scripted_server(models_html=True) as url:
        p = subprocess.run([sys.executable, "-m", "deploybench", "run", "--endpoint", url, "--requests", "2",
                            "--concurrency", "1", "--rounds", "1", "--no-report"], capture_output=True, text=True,
                           timeout=120)
    assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
    lines = [ln for ln in p.stderr.splitlines() if "OpenAI-compatible" in ln]
    assert len(lines) == 1 and "--endpoint" in lines[0], p.stderr[-2000:]
