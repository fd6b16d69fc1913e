"""Student-t and normal quantiles, with scipy imported on first use.

``scipy.stats`` costs a measuring process about 75 MB and 0.8 s at import; its load workers and a run
that only measures never need it. ``scipy.special`` (28 MB) is imported the first time an interval is
computed, which is after a level, never inside its window.
"""

from __future__ import annotations


def t_ppf(q: float, df: float) -> float:
    """The ``q`` quantile of Student's t with ``df`` degrees of freedom (``scipy.stats.t.ppf``)."""
    from scipy.special import stdtrit  # noqa: PLC0415  (lazy: see the module's docstring)

    return float(stdtrit(df, q))


def z_ppf(q: float) -> float:
    """The ``q`` quantile of the standard normal (``scipy.stats.norm.ppf``)."""
    from scipy.special import ndtri  # noqa: PLC0415  (lazy: see the module's docstring)

    return float(ndtri(q))
