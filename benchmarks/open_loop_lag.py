"""Can the open-loop client send requests on time? Schedule lag at 100, 300 and 1,000 req/s.

Against the scripted-timing server (first token after TTFT ms, then one token every ITL ms, 32
tokens per stream), run constant-rate open-loop levels and report per rate: schedule lag
p50/p99 (sent − scheduled arrival), achieved vs offered rate, TTFT error and streams in flight.
Ratios are against the lowest rate measured in the same run. Target on a 2-core machine: lag p99
≤ 2 ms at 300 req/s. Bounded: each level sends `--seconds` × rate requests.

    python benchmarks/open_loop_lag.py [--rates 100,300,1000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import tempfile

from deploybench import api
from deploybench.schemas import Deployment, ExternalEngine, LoadConfig, RunConfig, SyntheticWorkload, Workload
from deploybench.testing.servers import scripted_server


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rates", default="100,300,1000")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--ttft-ms", type=float, default=50.0)
    ap.add_argument("--itl-ms", type=float, default=10.0)
    ap.add_argument("--max-tokens", type=int, default=32)
    a = ap.parse_args()
    rows = []
    with scripted_server(ttft_ms=a.ttft_ms, itl_ms=a.itl_ms) as url, tempfile.TemporaryDirectory() as out:
        for rate in (float(x) for x in a.rates.split(",")):
            cfg = RunConfig(
                deployment=Deployment(name="scripted", engine=ExternalEngine(url=url, model="scripted")),
                workload=Workload(source=SyntheticWorkload(input_tokens=16, prompts=4000), max_tokens=a.max_tokens),
                load=LoadConfig(concurrency=[], levels=[{"kind": "rate", "rps": rate, "arrival": "constant"}],
                                requests=int(rate * a.seconds), warmup_requests=8, request_timeout_s=60,
                                scrape_interval_s=0))
            _, (s,) = api.run(cfg, out, name=f"r{rate:g}")
            rows.append((rate, s))
    base = rows[0][1]
    print(f"scripted server: TTFT {a.ttft_ms} ms, ITL {a.itl_ms} ms, {a.max_tokens} tokens/request; "
          f"{a.seconds:g} s per rate")
    print(f"{'req/s':>7} {'achieved':>9} {'lag p50 ms':>10} {'lag p99 ms':>10} {'x base p99':>10} "
          f"{'TTFT err ms':>11} {'tok/s':>8} {'errors':>6}")
    for rate, s in rows:
        ratio = s.schedule_lag_ms.p99 / base.schedule_lag_ms.p99 if base.schedule_lag_ms.p99 else float("nan")
        print(f"{rate:>7g} {s.achieved_rps or 0:>9.1f} {s.schedule_lag_ms.p50:>10.3f} {s.schedule_lag_ms.p99:>10.3f} "
              f"{ratio:>10.1f} {s.ttft_ms.p50 - a.ttft_ms:>11.2f} {s.output_throughput_tok_s:>8.0f} {s.errors:>6}")
    ok = [r for r, s in rows if s.schedule_lag_ms.p99 <= 2.0 and s.errors == 0]
    print(f"\nhighest rate with lag p99 <= 2 ms: {max(ok):g} req/s" if ok else "\nno rate kept lag p99 <= 2 ms")


if __name__ == "__main__":
    main()
