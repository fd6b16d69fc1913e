"""How many streams can deploybench's client drive before it distorts what it measures?

Against the scripted server (first token TTFT ms after it reads a request, then one token every ITL
ms, MAX_TOKENS tokens), closed-loop levels of 64 ... 4,096 streams; per level and worker setting:

  tok/s        streamed output tokens/s (the window's throughput)
  % theory     of the scripted server's theoretical rate: streams x tokens / (TTFT + (tokens-1) x ITL),
               what an infinitely fast client would stream (no time between a request's end and the next)
  lag p50/p99  schedule lag (sent - due), ms
  TTFT err     measured TTFT p50 - scripted TTFT, split into the server's share (the p50 of how late the
               server itself wrote each first token: GET /timings, written - due, on the host's shared
               monotonic clock) and the client's share (the rest: reading late, transit)
  ITL err      measured ITL p50 - scripted ITL
  head/first   the TTFT split's headers and first-token parts (p50, ms)

The server's spin-waiting is off by default (``--spin-ms 0``) so it leaves the CPU to the client; its
lateness is then its own ~1 ms timer slack, reported as its share. Bounded: each level sends at most
``--requests-per-stream`` x streams requests and stops after ``--seconds``.
Ratios are against the theoretical rate of the same run's server.

    python benchmarks/client_capacity.py [--streams 64,256,1024,4096] [--workers 1,auto,2] [--profile N]
    python benchmarks/client_capacity.py --against a152f97 [--pairs 4] [--streams 1024]
    python benchmarks/client_capacity.py --smoke

``--against REF`` measures the client of git ref REF (checked out into a temporary worktree, run on
this venv) and this checkout's client on the same scripted server, alternating A B A B, each in its own
process, and prints per pair the ratios (this / REF) of tok/s, of the client-added TTFT p50 and of the
client's CPU time per token (its process and its load workers), plus peak RSS (summed over the
measuring process and its workers). ``--smoke`` measures 256 streams once (a second time if the first
misses) and exits 1 when the client adds more than 5 ms to TTFT p50 in reading the stream (TTFT from
the moment the request was on the wire, like for like with releases before TTFT started when the POST
began; the headline figure, with the client's own sending of a 256-request burst, is printed beside).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SMOKE_STREAMS, SMOKE_LIMIT_MS = 256, 5.0


def _cfg(url: str, streams: int, a, workers):
    from deploybench.schemas import Deployment, LoadConfig, RunConfig, SyntheticWorkload, Workload

    try:  # where the engine configs live moved between releases
        from deploybench.engines import ExternalEngine as Ext
    except ImportError:
        from deploybench.schemas import ExternalEngine as Ext

    load = dict(concurrency=[streams], requests=streams * a.requests_per_stream, duration_s=a.seconds,
                warmup_requests=streams, request_timeout_s=60, scrape_interval_s=0, pin_client=False, rounds=1)
    if workers != "1":
        load["workers"] = workers if workers == "auto" else int(workers)
    # a release before a field (rounds, workers, pin_client) has none: measured without it
    load = {k: v for k, v in load.items() if k in LoadConfig.model_fields}
    return RunConfig(deployment=Deployment(name="scripted", engine=Ext(url=url, model="scripted")),
                     workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=64), max_tokens=a.max_tokens),
                     load=LoadConfig(**load))


def _first_token_timings(url: str) -> list:
    import urllib.request

    with urllib.request.urlopen(url + "/timings", timeout=30) as r:
        return json.loads(r.read())["first_token"]


def _server_late_ms(url: str, start_ns: int, end_ns: int) -> float | None:
    """The p50 of how late the server wrote each first token, over requests it read inside the window."""
    late = [(w - due) / 1e6 for read, due, w in _first_token_timings(url) if start_ns <= read <= end_ns]
    return statistics.median(late) if late else None


class Sampler:
    """Every 20 ms: resident memory and CPU seconds, summed over this process and its children (load
    workers), stamped on the monotonic clock. Gives the peak RSS, and the CPU spent inside a window."""

    def __init__(self) -> None:
        import psutil

        self.me, self.peak, self._stop = psutil.Process(), 0, threading.Event()
        self.cpu: list[tuple[int, float]] = []
        self.rss: list[int] = []
        self._t = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            rss = cpu = 0.0
            for p in [self.me, *self.me.children(recursive=True)]:
                with contextlib.suppress(Exception):
                    rss += p.memory_info().rss
                    t = p.cpu_times()
                    cpu += t.user + t.system
            self.peak = max(self.peak, int(rss))
            self.cpu.append((time.monotonic_ns(), cpu))
            self.rss.append(int(rss))

    def cpu_between(self, start_ns: int, end_ns: int) -> float | None:
        """CPU seconds spent between two instants (the nearest samples inside them)."""
        inside = [c for t, c in self.cpu if start_ns <= t <= end_ns]
        return inside[-1] - inside[0] if len(inside) >= 2 else None

    def peak_between(self, start_ns: int, end_ns: int) -> int:
        """Peak summed RSS sampled between two instants (the level's window: what measuring costs)."""
        return max((r for (t, _), r in zip(self.cpu, self.rss) if start_ns <= t <= end_ns), default=0)

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def measure(url: str, streams: int, workers: str, a, out: str) -> dict:
    from deploybench import api, storage

    name = f"c{streams}-w{workers}-{time.monotonic_ns()}"
    prof = cProfile.Profile() if a.profile else None
    if prof:
        prof.enable()
    with Sampler() as sampler:
        study, (s,) = api.run(_cfg(url, streams, a, workers), out, name=name)
    if prof:
        prof.disable()
        print(f"\n--- profile, {streams} streams, workers={workers} (top {a.profile} by own time) ---")
        pstats.Stats(prof).sort_stats("tottime").print_stats(a.profile)
    meta = storage.read_meta(study / s.run_id)
    cpu = sampler.cpu_between(meta.window_start_ns, meta.window_end_ns)
    window_tokens = s.output_throughput_tok_s * (meta.window_end_ns - meta.window_start_ns) / 1e9
    late = _server_late_ms(url, meta.window_start_ns, meta.window_end_ns)
    theory = streams * a.max_tokens / ((a.ttft_ms + (a.max_tokens - 1) * a.itl_ms) / 1e3)
    err = s.ttft_ms.p50 - a.ttft_ms if s.ttft_ms.p50 is not None else None
    # like for like across releases: TTFT from the moment the request was on the wire (every release
    # stores sent_ns; the headline TTFT of releases after issue 23 starts earlier, when the POST began)
    wire = [(r.chunk_ns[0] - r.sent_ns) / 1e6 for r in storage.read_records(study / s.run_id)
            if not r.warmup and r.error is None and r.chunk_ns]
    wire_err = statistics.median(wire) - a.ttft_ms if wire else None
    split = {k: getattr((getattr(s, "ttft_split_ms", None) or {}).get(k), "p50", None) for k in ("headers", "first_token")}
    return dict(streams=streams, workers=workers, tok_s=s.output_throughput_tok_s,
                pct=100 * s.output_throughput_tok_s / theory, lag50=s.schedule_lag_ms.p50, lag99=s.schedule_lag_ms.p99,
                err=err, server=late, client=(err - late) if err is not None and late is not None else None,
                wire=(wire_err - late) if wire_err is not None and late is not None else None,
                itl_err=(s.itl_ms.p50 - a.itl_ms) if s.itl_ms.p50 is not None else None,
                head=split["headers"], first=split["first_token"], errors=s.errors, requests=s.requests,
                cpu_us=1e6 * cpu / window_tokens if cpu is not None and window_tokens else None,
                rss_mb=sampler.peak / 2**20,
                rss_window_mb=sampler.peak_between(meta.window_start_ns, meta.window_end_ns) / 2**20)


def measure_in_child(src: Path, url: str, streams: int, workers: str, argv: list[str]) -> dict:
    """One measurement in a fresh process whose ``deploybench`` is the one under ``src``."""
    env = dict(os.environ, PYTHONPATH=str(src))
    cmd = [sys.executable, __file__, "--child", url, "--streams", str(streams), "--workers", workers, *argv]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"measurement with {src} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
    return json.loads(lines[-1])


@contextlib.contextmanager
def ref_worktree(ref: str):
    """A temporary detached worktree of ``ref`` (its ``src`` is put first on the child's path)."""
    sha = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--verify", ref + "^{commit}"], check=True,
                         capture_output=True, text=True).stdout.strip()
    path = Path(tempfile.mkdtemp(prefix=f"client-ref-{sha[:8]}-"))
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(path), sha], check=True)
    try:
        yield sha, path / "src"
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], check=False)


def _f(v, fmt: str) -> str:
    return "—" if v is None else fmt.format(v)


def print_table(rows: list[dict], a) -> None:
    print(f"\nscripted server: TTFT {a.ttft_ms:g} ms, ITL {a.itl_ms:g} ms, {a.max_tokens} tokens/request, "
          f"spin {a.spin_ms:g} ms; {a.requests_per_stream} requests/stream, at most {a.seconds:g} s per level")
    head = (f"{'streams':>7} {'workers':>7} {'tok/s':>8} {'% theory':>8} {'lag p50':>8} {'lag p99':>8} "
            f"{'TTFT err':>8} {'server':>7} {'client':>7} {'wire':>7} {'ITL err':>8} {'head':>6} {'first':>6} {'errors':>6} "
            f"{'cpu us/tok':>10} {'MBw':>5} {'MB':>5}")
    print(head)
    for r in rows:
        print(f"{r['streams']:>7} {r['workers']:>7} {r['tok_s']:>8.0f} {r['pct']:>7.1f}% {_f(r['lag50'], '{:8.2f}')} "
              f"{_f(r['lag99'], '{:8.2f}')} {_f(r['err'], '{:+8.2f}')} {_f(r['server'], '{:+7.2f}')} "
              f"{_f(r['client'], '{:+7.2f}')} {_f(r['wire'], '{:+7.2f}')} {_f(r['itl_err'], '{:+8.2f}')} {_f(r['head'], '{:6.2f}')} "
              f"{_f(r['first'], '{:6.2f}')} {r['errors']:>6} {_f(r['cpu_us'], '{:10.1f}')} {r['rss_window_mb']:>5.0f} {r['rss_mb']:>5.0f}")
    print("times in ms; TTFT err = measured p50 - scripted; server = p50 of the server's own first-token lateness; "
          "client = the rest; wire = the client's share with TTFT taken from when each request was on the wire "
          "(its reading, without its sending); cpu us/tok = CPU time inside the level's window per token streamed there, summed over "
          "the measuring process and its load workers; MBw / MB = peak RSS, summed over the measuring process and its "
          "workers, inside the window / over the whole run")
    for r in rows:
        if r["streams"] == 1024:
            ok = (r["wire"] is not None and r["wire"] <= 5.0, r["pct"] >= 90.0)
            print(f"target at 1,024 streams, workers={r['workers']}: client adds <= 5 ms to TTFT p50 (on the wire): "
                  f"{'met' if ok[0] else 'MISSED'} ({_f(r['wire'], '{:+.2f}')} ms); streams >= 90 % of theory: "
                  f"{'met' if ok[1] else 'MISSED'} ({r['pct']:.1f} %)")


def _ratio(b, a) -> str:
    return "—" if a in (None, 0) or b is None else f"{b / a:.3f}"


def print_pairs(pairs: list[tuple[dict, dict]], ref: str) -> None:
    """Per A/B pair: REF's and this checkout's figures and the ratios this / REF."""
    print(f"\nA = {ref}, B = this checkout; ratios B / A (tok/s: higher is better; client TTFT and CPU: lower)")
    print(f"{'streams':>7} {'pair':>4} {'A tok/s':>8} {'B tok/s':>8} {'ratio':>6} {'A wire':>8} {'B wire':>8} "
          f"{'ratio':>6} {'B head':>8} {'A cpu':>6} {'B cpu':>6} {'ratio':>6} {'A %lim':>6} {'B %lim':>6} {'A MBw':>6} {'B MBw':>6} "
          f"{'A MB':>6} {'B MB':>6}")
    for k, (ra, rb) in enumerate(pairs):
        print(f"{ra['streams']:>7} {k + 1:>4} {ra['tok_s']:>8.0f} {rb['tok_s']:>8.0f} {_ratio(rb['tok_s'], ra['tok_s']):>6} "
              f"{_f(ra['wire'], '{:+8.2f}')} {_f(rb['wire'], '{:+8.2f}')} {_ratio(rb['wire'], ra['wire']):>6} "
              f"{_f(rb['client'], '{:+8.2f}')} "
              f"{_f(ra['cpu_us'], '{:6.1f}')} {_f(rb['cpu_us'], '{:6.1f}')} {_ratio(rb['cpu_us'], ra['cpu_us']):>6} "
              f"{ra['pct']:>5.1f}% {rb['pct']:>5.1f}% {ra['rss_window_mb']:>6.0f} {rb['rss_window_mb']:>6.0f} "
              f"{ra['rss_mb']:>6.0f} {rb['rss_mb']:>6.0f}")
    print("wire = ms the client adds to TTFT p50 measured from the moment each request was on the wire (sent_ns, "
          "stored by every release: like for like) - scripted - the server's own lateness; B head = the same with B's "
          "headline TTFT (from when the POST began: B's own request-sending included); cpu = us of CPU "
          "per token inside the window (the measuring process and its workers); %lim = of the scripted server's limit; "
          "MBw / MB = peak RSS summed over the measuring process and its workers, inside the level's window / over the "
          "whole run (the summary and Parquet writing after the level included)")
    for streams in sorted({ra["streams"] for ra, _ in pairs}):
        ab = [(ra, rb) for ra, rb in pairs if ra["streams"] == streams]
        floors = (all(rb["tok_s"] >= ra["tok_s"] for ra, rb in ab),
                  all(rb["wire"] is not None and ra["wire"] is not None and rb["wire"] <= ra["wire"] for ra, rb in ab))
        print(f"{streams} streams, {len(ab)} pairs: B >= A on tok/s in every pair: {'yes' if floors[0] else 'NO'}; "
              f"B adds <= A's client TTFT (on the wire) in every pair: {'yes' if floors[1] else 'NO'}; B's % of the limit: "
              f"{min(rb['pct'] for _, rb in ab):.1f}-{max(rb['pct'] for _, rb in ab):.1f} %")


def _args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--streams", default="64,256,1024,4096")
    ap.add_argument("--workers", default="1", help="comma-separated: 1, auto, 2 ... (needs load.workers)")
    ap.add_argument("--ttft-ms", type=float, default=50.0)
    ap.add_argument("--itl-ms", type=float, default=40.0)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--requests-per-stream", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=10.0, help="time cap per level")
    ap.add_argument("--spin-ms", type=float, default=0.0, help="scripted server's spin before each deadline")
    ap.add_argument("--profile", type=int, default=0, help="print the top N functions (cProfile) per level")
    ap.add_argument("--against", metavar="REF", help="git ref whose client is measured A B A B against this one")
    ap.add_argument("--pairs", type=int, default=4, help="A/B pairs per level with --against")
    ap.add_argument("--smoke", action="store_true", help=f"{SMOKE_STREAMS} streams; exit 1 when the client adds "
                    f"> {SMOKE_LIMIT_MS:g} ms to TTFT p50")
    ap.add_argument("--child", metavar="URL", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


PASSED = ("--ttft-ms", "--itl-ms", "--max-tokens", "--requests-per-stream", "--seconds")


def main() -> None:
    a = _args()
    if a.child:  # one measurement for --against, printed as JSON
        with tempfile.TemporaryDirectory() as out:
            print(json.dumps(measure(a.child, int(a.streams), a.workers, a, out)))
        return
    from deploybench.testing.servers import scripted_server

    passed = [x for k in PASSED for x in (k, str(getattr(a, k[2:].replace("-", "_"))))]
    levels = [SMOKE_STREAMS] if a.smoke else [int(x) for x in a.streams.split(",")]
    rows, pairs = [], []
    with scripted_server(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms, spin_ms=a.spin_ms) as url, \
            tempfile.TemporaryDirectory() as out, (ref_worktree(a.against) if a.against else contextlib.nullcontext((None, None))) as (sha, ref_src):
        for streams in levels:
            if a.against:
                for k in range(a.pairs):  # A B, A B, ...
                    ra = measure_in_child(ref_src, url, streams, a.workers, passed)
                    rb = measure_in_child(REPO / "src", url, streams, a.workers, passed)
                    pairs.append((ra, rb))
                    print(f"  {streams} streams, pair {k + 1}: tok/s {ra['tok_s']:.0f} / {rb['tok_s']:.0f}, client on "
                          f"the wire {_f(ra['wire'], '{:+.2f}')} / {_f(rb['wire'], '{:+.2f}')} ms", flush=True)
                continue
            for workers in a.workers.split(","):
                rows.append(measure(url, streams, workers, a, out))
                if a.smoke and (rows[-1]["wire"] is None or rows[-1]["wire"] > SMOKE_LIMIT_MS):
                    print("  over the limit once: measured again (a shared host's hiccup is not the client's)")
                    rows.append(measure(url, streams, workers, a, out))
                print(f"  measured {streams} streams, workers={workers}", flush=True)
    if a.against:
        print_pairs(pairs, f"{a.against} ({sha[:8]})")
        return
    print_table(rows, a)
    if a.smoke:
        last = rows[-1]["wire"]
        ok = last is not None and last <= SMOKE_LIMIT_MS
        print(f"smoke: the client adds {_f(last, '{:+.2f}')} ms to TTFT p50 at {SMOKE_STREAMS} streams, reading "
              f"(TTFT from the wire; limit {SMOKE_LIMIT_MS:g} ms): {'ok' if ok else 'FAILED'}; with its own sending "
              f"(the headline TTFT, from when each POST began) {_f(rows[-1]['client'], '{:+.2f}')} ms")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
