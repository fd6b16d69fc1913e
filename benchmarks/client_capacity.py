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

    python benchmarks/client_capacity.py [--streams 64,256,1024,4096] [--workers 1,auto,2] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import tempfile
import time

from deploybench import api, storage
from deploybench.engines import ExternalEngine
from deploybench.schemas import Deployment, LoadConfig, RunConfig, SyntheticWorkload, Workload
from deploybench.testing.servers import first_token_timings, scripted_server


def _cfg(url: str, streams: int, a, workers) -> RunConfig:
    load = dict(concurrency=[streams], requests=streams * a.requests_per_stream, duration_s=a.seconds,
                warmup_requests=streams, request_timeout_s=60, scrape_interval_s=0, pin_client=False)
    if workers != "1":
        load["workers"] = workers if workers == "auto" else int(workers)
    if "rounds" in LoadConfig.model_fields:  # one level, measured once (a release before rounds has no field)
        load["rounds"] = 1
    return RunConfig(deployment=Deployment(name="scripted", engine=ExternalEngine(url=url, model="scripted")),
                     workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=64), max_tokens=a.max_tokens),
                     load=LoadConfig(**load))


def _server_late_ms(url: str, start_ns: int, end_ns: int) -> float | None:
    """The p50 of how late the server wrote each first token, over requests it read inside the window."""
    late = [(w - due) / 1e6 for read, due, w in first_token_timings(url) if start_ns <= read <= end_ns]
    return statistics.median(late) if late else None


def measure(url: str, streams: int, workers: str, a, out: str) -> dict:
    name = f"c{streams}-w{workers}"
    prof = cProfile.Profile() if a.profile else None
    if prof:
        prof.enable()
    cpu = time.process_time()
    study, (s,) = api.run(_cfg(url, streams, a, workers), out, name=name)
    cpu = time.process_time() - cpu
    if prof:
        prof.disable()
        print(f"\n--- profile, {streams} streams, workers={workers} (top {a.profile} by own time) ---")
        pstats.Stats(prof).sort_stats("tottime").print_stats(a.profile)
    meta = storage.read_meta(study / s.run_id)
    late = _server_late_ms(url, meta.window_start_ns, meta.window_end_ns)
    theory = streams * a.max_tokens / ((a.ttft_ms + (a.max_tokens - 1) * a.itl_ms) / 1e3)
    err = s.ttft_ms.p50 - a.ttft_ms if s.ttft_ms.p50 is not None else None
    split = {k: getattr(s.ttft_split_ms.get(k), "p50", None) for k in ("headers", "first_token")}
    return dict(streams=streams, workers=workers, tok_s=s.output_throughput_tok_s,
                pct=100 * s.output_throughput_tok_s / theory, lag50=s.schedule_lag_ms.p50, lag99=s.schedule_lag_ms.p99,
                err=err, server=late, client=(err - late) if err is not None and late is not None else None,
                itl_err=(s.itl_ms.p50 - a.itl_ms) if s.itl_ms.p50 is not None else None,
                head=split["headers"], first=split["first_token"], errors=s.errors, requests=s.requests,
                cpu_us=1e6 * cpu / max(1, (s.requests + streams) * a.max_tokens))


def _f(v, fmt: str) -> str:
    return "—" if v is None else fmt.format(v)


def print_table(rows: list[dict], a) -> None:
    print(f"\nscripted server: TTFT {a.ttft_ms:g} ms, ITL {a.itl_ms:g} ms, {a.max_tokens} tokens/request, "
          f"spin {a.spin_ms:g} ms; {a.requests_per_stream} requests/stream, at most {a.seconds:g} s per level")
    head = (f"{'streams':>7} {'workers':>7} {'tok/s':>8} {'% theory':>8} {'lag p50':>8} {'lag p99':>8} "
            f"{'TTFT err':>8} {'server':>7} {'client':>7} {'ITL err':>8} {'head':>6} {'first':>6} {'errors':>6} "
            f"{'cpu us/tok':>10}")
    print(head)
    for r in rows:
        print(f"{r['streams']:>7} {r['workers']:>7} {r['tok_s']:>8.0f} {r['pct']:>7.1f}% {_f(r['lag50'], '{:8.2f}')} "
              f"{_f(r['lag99'], '{:8.2f}')} {_f(r['err'], '{:+8.2f}')} {_f(r['server'], '{:+7.2f}')} "
              f"{_f(r['client'], '{:+7.2f}')} {_f(r['itl_err'], '{:+8.2f}')} {_f(r['head'], '{:6.2f}')} "
              f"{_f(r['first'], '{:6.2f}')} {r['errors']:>6} {r['cpu_us']:>10.1f}")
    print("times in ms; TTFT err = measured p50 - scripted; server = p50 of the server's own first-token lateness; "
          "client = the rest; cpu us/tok = this process's CPU time (level, warm-up and summary) per streamed token "
          "(load workers' CPU not included)")
    for r in rows:
        if r["streams"] == 1024:
            ok = (r["client"] is not None and r["client"] <= 5.0, r["pct"] >= 90.0)
            print(f"target at 1,024 streams, workers={r['workers']}: client adds <= 5 ms to TTFT p50: "
                  f"{'met' if ok[0] else 'MISSED'} ({_f(r['client'], '{:+.2f}')} ms); streams >= 90 % of theory: "
                  f"{'met' if ok[1] else 'MISSED'} ({r['pct']:.1f} %)")


def main() -> None:
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
    a = ap.parse_args()
    has_workers = "workers" in LoadConfig.model_fields
    settings = [w for w in a.workers.split(",") if w == "1" or has_workers]
    if len(settings) < len(a.workers.split(",")):
        print("load.workers is not available in this version: measuring workers=1 only")
    rows = []
    with scripted_server(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms, spin_ms=a.spin_ms) as url, \
            tempfile.TemporaryDirectory() as out:
        for streams in (int(x) for x in a.streams.split(",")):
            for workers in settings:
                rows.append(measure(url, streams, workers, a, out))
                print(f"  measured {streams} streams, workers={workers}", flush=True)
    print_table(rows, a)


if __name__ == "__main__":
    main()
