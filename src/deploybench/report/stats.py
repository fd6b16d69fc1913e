"""Bootstrap confidence intervals (numpy only, seeded, so a comparison is reproducible)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# resampled values per block: bounds memory whatever the sample size (8 bytes each)
_BLOCK = 2_000_000


@dataclass(frozen=True)
class Interval:
    estimate: float  # observed median(b) - median(a)
    low: float
    high: float
    confidence: float
    resamples: int

    @property
    def excludes_zero(self) -> bool:
        """The change is beyond noise: the whole interval lies on one side of zero."""
        return self.low > 0 or self.high < 0


def boot_medians(x: np.ndarray, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of ``resamples`` bootstrap resamples (with replacement) of ``x``."""
    n = x.size
    out = np.empty(resamples)
    step = max(1, _BLOCK // n)
    for start in range(0, resamples, step):
        k = min(step, resamples - start)
        idx = rng.integers(0, n, size=(k, n))
        out[start:start + k] = np.median(x[idx], axis=1)
    return out


def median_diff_ci(a, b, resamples: int = 2000, confidence: float = 0.95, seed: int = 0) -> Interval | None:
    """Percentile-bootstrap interval of median(b) - median(a); None when a side has < 2 values.

    Both samples are resampled independently (the runs are independent); the generator is
    seeded, so the same data always gives the same interval.
    """
    xa = np.asarray(a, dtype=float)
    xb = np.asarray(b, dtype=float)
    xa, xb = xa[np.isfinite(xa)], xb[np.isfinite(xb)]
    if xa.size < 2 or xb.size < 2:
        return None
    if not 0 < confidence < 1 or resamples < 10:
        raise ValueError("confidence must be in (0, 1) and resamples >= 10")
    rng = np.random.default_rng(seed)
    diffs = boot_medians(xb, resamples, rng) - boot_medians(xa, resamples, rng)
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(diffs, [tail, 100 - tail])
    return Interval(estimate=float(np.median(xb) - np.median(xa)), low=float(low), high=float(high),
                    confidence=confidence, resamples=resamples)
