"""Open-loop arrival schedules, computed ahead from a seed (pure: no clocks).

* ``constant``: request i at i / rps.
* ``poisson``: exponential inter-arrival times with mean 1 / rps (CV 1).
* ``gamma``: gamma inter-arrival times with mean 1 / rps and coefficient of variation ``cv``
  (shape k = 1 / cv², scale = 1 / (rps · k)); cv > 1 is burstier than Poisson, cv < 1 smoother
  (vLLM's ``--burstiness`` is k).

The first request leaves at offset 0; offsets are seconds from the start of the level.
"""

from __future__ import annotations

import numpy as np


def schedule(rps: float, arrival: str, duration_s: float, cv: float = 1.0, seed: int = 0,
             limit: int | None = None) -> np.ndarray:
    """Arrival offsets (s) in [0, duration_s), at most ``limit`` of them."""
    if rps <= 0:
        raise ValueError("rps must be > 0")
    n_max = int(np.ceil(rps * duration_s * 1.5 + 20))
    if limit is not None:
        n_max = min(n_max, limit)
    if arrival == "constant":  # i / rps exactly (a running sum would drift by rounding)
        offsets = np.arange(n_max) / rps
        return offsets[offsets < duration_s - 1e-9]
    if arrival == "poisson":
        gaps = np.random.default_rng(seed).exponential(1.0 / rps, n_max)
    elif arrival == "gamma":
        k = 1.0 / (cv * cv)
        gaps = np.random.default_rng(seed).gamma(k, 1.0 / (rps * k), n_max)
    else:
        raise ValueError(f"unknown arrival process {arrival!r}")
    offsets = np.concatenate(([0.0], np.cumsum(gaps[:-1])))
    return offsets[offsets < duration_s]


def inter_arrival_cv(offsets: np.ndarray) -> float:
    """Coefficient of variation of the gaps between consecutive arrivals."""
    gaps = np.diff(np.asarray(offsets, dtype=float))
    return float(gaps.std(ddof=1) / gaps.mean()) if gaps.size > 1 and gaps.mean() > 0 else 0.0
