"""Load levels from command-line options: ``--rate 2,4 --arrival poisson``, ``--sweep``, ``--trace FILE``."""

from __future__ import annotations

from pathlib import Path

from ..schemas import ConfigError

ARRIVALS = ("constant", "poisson", "gamma")


def _rates(text: str) -> list[float]:
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ConfigError(f"--rate: '{text}' is not a list of numbers", "write e.g. --rate 2,4,8") from None
    if not rates or min(rates) <= 0:
        raise ConfigError(f"--rate: '{text}' needs rates > 0 (requests per second)", "write e.g. --rate 2,4,8")
    return rates


def cli_levels(rate: str | None, arrival: str, burstiness: float | None, max_in_flight: int | None, sweep: bool,
               sweep_rates: int, trace: Path | None, time_scale: float, slo: str | None) -> list[dict]:
    """Kind-tagged level dicts (validated later by ``LoadConfig``), in the order: rates, sweep, trace."""
    if arrival not in ARRIVALS:
        raise ConfigError(f"--arrival: unknown arrival process '{arrival}'", f"use one of: {', '.join(ARRIVALS)}")
    if burstiness is not None and burstiness <= 0:
        raise ConfigError(f"--burstiness: {burstiness} must be > 0", "use e.g. 2 (burstier than Poisson) or 0.5")
    if time_scale <= 0:
        raise ConfigError(f"--time-scale: {time_scale} must be > 0", "use e.g. 0.5 to replay twice as fast")
    if sweep and not slo:
        raise ConfigError("--sweep needs an SLO for its knee", 'add e.g. --slo "p90_ttft_ms<=500"')
    if sweep_rates < 2:
        raise ConfigError(f"--sweep-rates: {sweep_rates} is too few", "use at least 2 (default 8)")
    shape = {"arrival": "gamma" if burstiness is not None else arrival}
    if burstiness is not None:
        shape["cv"] = burstiness
    levels: list[dict] = []
    for r in _rates(rate) if rate else []:
        levels.append({"kind": "rate", "rps": r, **shape, **({"max_in_flight": max_in_flight} if max_in_flight else {})})
    if sweep:
        levels.append({"kind": "sweep", "rates": sweep_rates, **shape})
    if trace is not None:
        if not trace.is_file():
            raise ConfigError(f"--trace: {trace} is not a file", "give a JSONL/CSV trace (docs/metrics.md, Workloads)")
        levels.append({"kind": "trace", "path": str(trace), "time_scale": time_scale})
    return levels
