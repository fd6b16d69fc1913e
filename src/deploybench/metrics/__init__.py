"""Metrics: pure functions from raw records to summaries, costs and SLO checks; the modules, bottom to top:

* ``core`` (per-request figures, the window and its throughput: :func:`core.window_rates`), ``tdist``
  (Student-t and normal quantiles), ``cost`` (minutes and dollars per 1M tokens);
* ``intervals`` (95 % intervals), ``slo`` (constraints), ``ttft_split`` (TTFT's phases);
* ``summary`` (:func:`summarize`: every figure of a run);
* ``imported`` (imported cells), ``rounds`` (rounds of a cell combined), ``capacity`` (the highest rate
  within an SLO).

This package's ``__init__`` only re-exports; ``docs/architecture.md`` draws the layers.
"""

from __future__ import annotations

from . import core, imported, intervals, slo, ttft_split
from .core import dist, e2e_ms, itl_ms, lag_ms, ms_per_token, stopped_short, tpot_ms, ttft_ms
from .cost import cost_per_1m, minutes_per_1m
from .slo import Constraint
from .summary import from_due, lag_distorts, offered_achieved, summarize, summarize_server

__all__ = ["Constraint", "cost_per_1m", "dist", "e2e_ms", "imported", "itl_ms", "lag_ms", "minutes_per_1m",
           "intervals", "lag_distorts", "ms_per_token", "slo", "stopped_short", "summarize", "tpot_ms",
           "ttft_ms", "ttft_split"]

# also importable from here, as before the modules were split: from_due, offered_achieved, summarize_server
