"""How fast is the host's CPU right now? A slow neighbour the guest cannot see.

On a shared virtual machine another tenant on the same physical cores (a busy hyperthread
sibling, a memory-hungry neighbour) slows every instruction without any steal time or foreign
process showing inside the guest. Measured on a 2-core KVM guest: the host switched every few
seconds between two speeds 40 % apart, with 0 steal; 5 s windows of one llama-server cell moved
between 25.6 and 38.4 tok/s, and the probe below tracked them (r = 0.92).

:class:`SpeedProbe` runs a tiny child process that, every ``interval_s``, times a fixed piece of
pure-Python work by the **CPU time** of its thread (``time.thread_time_ns``), so waiting for a
core shared with the server does not count, only how fast the core runs the work. It costs about
0.5 ms of CPU every 0.25 s. :func:`slowdown` turns the samples of one window into the host's
slowdown against its typical speed in the study: mean sample in the window / median of every
sample in the cells' windows so far. Cells are compared with each other, so what matters is a
cell measured while the host ran slower (or faster) than it did for the others.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

import numpy as np

INTERVAL_S = 0.25
MIN_SAMPLES = 8  # fewer in a window give no slowdown


def _unit() -> int:
    s = 0
    for i in range(10_000):
        s += i * i
    return s


def _sample() -> int:
    """CPU nanoseconds of the fixed work unit (the faster of two tries)."""
    best = None
    for _ in range(2):
        t = time.thread_time_ns()
        _unit()
        d = time.thread_time_ns() - t
        best = d if best is None else min(best, d)
    return best


def main(interval_s: float = INTERVAL_S) -> None:  # the child: print "monotonic_ns cpu_ns" until the parent goes
    parent = os.getppid()
    while os.getppid() == parent:
        try:
            print(time.monotonic_ns(), _sample(), flush=True)
        except (BrokenPipeError, OSError):
            return
        time.sleep(interval_s)


def slowdown(samples: np.ndarray, start_ns: int, end_ns: int,
             earlier: Sequence[tuple[int, int]] = ()) -> tuple[float, float, int] | None:
    """(slowdown in the window, typical ns per unit, samples in the window) — None with too few.

    ``samples``: rows of (monotonic_ns, cpu_ns); ``earlier``: the study's windows measured before
    this one. Slowdown = mean sample in the window / median of every sample in this and the earlier
    windows (the host's typical speed while cells ran — the idle host between cells runs the probe
    faster, so those samples are left out): 1.3 means the cell ran while the host was 30 % slower
    than usual, 0.9 while it was 10 % faster.
    """
    if samples.size == 0:
        return None
    t = samples[:, 0]
    inside = samples[(t >= start_ns) & (t <= end_ns)]
    measured = np.zeros(len(samples), dtype=bool)
    for a, b in (*earlier, (start_ns, end_ns)):
        measured |= (t >= a) & (t <= b)
    if len(inside) < MIN_SAMPLES:
        return None
    typical = float(np.median(samples[measured, 1]))
    return float(inside[:, 1].mean() / typical), typical, int(len(inside))


class SpeedProbe:
    """The probe child and its samples; ``start()`` once, read windows any time, ``stop()`` always."""

    def __init__(self, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.proc: subprocess.Popen | None = None
        self._rows: list[tuple[int, int]] = []
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self.windows: list[tuple[int, int]] = []  # the cells' windows so far: the typical speed is theirs

    def start(self) -> "SpeedProbe":
        if self.proc is None:
            # this file as a script (-P: its folder not on sys.path): 0.2 s to start, not the package's 2 s of CPU
            self.proc = subprocess.Popen([sys.executable, "-P", __file__, repr(self.interval_s)],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         stdin=subprocess.DEVNULL, text=True)
            self._reader = threading.Thread(target=self._read, name="deploybench-speedprobe", daemon=True)
            self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.split()
            if len(parts) == 2 and all(p.isdigit() for p in parts):
                with self._lock:
                    self._rows.append((int(parts[0]), int(parts[1])))

    def samples(self) -> np.ndarray:
        with self._lock:
            return np.array(self._rows, dtype=float).reshape(-1, 2)

    def slowdown(self, start_ns: int, end_ns: int) -> tuple[float, float, int] | None:
        """The window's slowdown against every window measured so far; the window joins them."""
        out = slowdown(self.samples(), start_ns, end_ns, self.windows)
        self.windows.append((start_ns, end_ns))
        return out

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=2)  # the child's end closes the pipe: the reader sees EOF
        if proc.stdout is not None:
            proc.stdout.close()

    def __enter__(self) -> "SpeedProbe":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


_SHARED: SpeedProbe | None = None


def shared() -> SpeedProbe:
    """The process's one probe (started on first use, stopped at exit): a study's typical speed spans all its cells."""
    global _SHARED
    if _SHARED is None:
        import atexit

        _SHARED = SpeedProbe().start()
        atexit.register(_SHARED.stop)
    return _SHARED


if __name__ == "__main__":  # the child (see SpeedProbe.start)
    main(float(sys.argv[1]) if len(sys.argv) > 1 else INTERVAL_S)
