"""Do a study's picks and intervals hold on a rerun? Compare two or more runs of the same study.

    python benchmarks/stability.py runs/first runs/second [runs/third ...]
    python benchmarks/stability.py --run 3 --quick --out /tmp/stab     # run the quick study 3 times, then compare

Prints, against the first run:
* picks (cost, latency, throughput per model) and ties per run, and every pick that changed while
  one of the runs claimed it clear (the figure that must be 0);
* the share of the later runs' headline figures (output tok/s, TTFT p50, TPOT p50, $/1M tokens,
  per cell) inside the first run's 95 % intervals (target >= 75 %);
* the median interval half-width relative to its figure (target <= 15 %: intervals are not made
  wide to pass).
Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from deploybench import api
from deploybench.metrics.rounds import HEADLINE, cell_key, figure
from deploybench.recommend import recommend

SCENARIOS = ("cost", "latency", "throughput")


def picks(study: Path) -> dict:
    cells = api.load_summaries(study)
    return {(sc, p.group): p for sc in SCENARIOS for p in recommend(cells, sc)}


def not_tied(a, b) -> bool:
    """Pick ``a`` claims to be clearly better than pick ``b`` (b is not among the cells a ties with)."""
    return b.run_id not in a.tied_with


def coverage(first: Path, later: list[Path]) -> tuple[int, int, list[float]]:
    base = {cell_key(s): s for s in api.load_summaries(first)}
    inside = total = 0
    widths = []
    for s in base.values():
        for name in HEADLINE:
            iv, v = s.intervals.get(name), figure(s, name)
            if iv is not None and v:
                widths.append(max(iv.hi - v, v - iv.lo) / v)
    for run in later:
        for s in api.load_summaries(run):
            b = base.get(cell_key(s))
            if b is None:
                continue
            for name in HEADLINE:
                iv, v = b.intervals.get(name), figure(s, name)
                if iv is None or v is None:
                    continue
                total += 1
                inside += iv.lo <= v <= iv.hi
    return inside, total, widths


def compare(runs: list[Path]) -> bool:
    all_picks = [picks(r) for r in runs]
    ok = True
    for r, p in zip(runs, all_picks):
        ties = sum(x.tie for x in p.values())
        print(f"{r}: {ties} of {len(p)} picks tied")
        ok &= ties <= len(p) // 3
    flips = contradictions = 0
    for key in all_picks[0]:
        named = [p[key] for p in all_picks if key in p]
        line = " | ".join(f"{x.deployment} {x.value:.4g}{' (tie)' if x.tie else ''}" for x in named)
        print(f"  {key[0]:>10} {key[1]}: {line}")
        pairs = [(a, b) for i, a in enumerate(named) for b in named[i + 1:] if a.deployment != b.deployment]
        # changed while claimed clear: one run says its pick is clear of the other run's pick
        if any(not_tied(a, b) or not_tied(b, a) for a, b in pairs):
            flips += 1
            print("    ^ changed while a run claimed its pick clear of the other's")
        # contradiction: each of two runs says its own pick is clearly better than the other's
        if any(not_tied(a, b) and not_tied(b, a) for a, b in pairs):
            contradictions += 1
            print("    ^ two runs claim opposite picks clear of each other")
    inside, total, widths = coverage(runs[0], runs[1:])
    share = inside / total if total else float("nan")
    med = statistics.median(widths) if widths else float("nan")
    print(f"picks that changed while a run claimed its pick clear of the other's: {flips}")
    print(f"picks two runs claimed clear in opposite directions: {contradictions}")
    print(f"headline figures of later runs inside the first run's 95 % intervals: {inside}/{total} = {share:.0%}")
    print(f"median interval half-width: {med:.1%} of its figure")
    return ok and flips == 0 and share >= 0.75 and med <= 0.15


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--run", type=int, default=0, help="run the study this many times first")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("runs/stability"))
    a = ap.parse_args()
    runs = list(a.runs)
    for i in range(a.run):
        name = f"run{i + 1}-{time.strftime('%H%M%S')}"
        t0 = time.monotonic()
        cmd = [sys.executable, "-m", "deploybench", "run", "--name", name, "--out", str(a.out), "--no-report",
               "--json", *(["--quick"] if a.quick else [])]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        print(f"{name}: {time.monotonic() - t0:.0f} s")
        runs.append(a.out / name)
    if len(runs) < 2:
        ap.error("give two or more study folders, or --run N")
    return 0 if compare(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
