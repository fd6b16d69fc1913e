"""Service-level objectives: ``"p90_ttft_ms<=500,p50_tpot_ms<=40"`` parsed into typed checks."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

from ..schemas import ConfigError, RequestRecord, RunSummary
from . import core

METRICS = {"ttft_ms": core.ttft_ms, "ttft_content_ms": core.ttft_content_ms, "tpot_ms": core.tpot_ms,
           "e2e_ms": core.e2e_ms, "ms_per_token": core.ms_per_token}
FROM_DUE = {"ttft_ms": ("ttft_from_due_ms", core.ttft_from_due_ms), "e2e_ms": ("e2e_from_due_ms", core.e2e_from_due_ms)}
"""Open loop: these SLO figures are read from the scheduled arrival (a lagging client cannot look better
than the service it measured)."""
SUMMARY_DISTS = {"server_ms_per_token"}  # imported cells' server-side figure: no per-request reading
SUMMARY_ONLY = {"error_rate", "output_throughput_tok_s", "request_throughput_rps", "cost_per_1m_tokens"}
STATS = {"mean", "min", "p50", "p90", "p95", "p99", "max"}
OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt}
_RE = re.compile(r"^\s*(?:(?P<stat>[a-z0-9]+)_)?(?P<metric>[a-z_0-9]+?)\s*(?P<op><=|>=|<|>)\s*(?P<value>[0-9.eE+-]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    stat: str | None
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        name = f"{self.stat}_{self.metric}" if self.stat else self.metric
        return f"{name}{self.op}{self.value:g}"

    def observed(self, s: RunSummary) -> float | None:
        if self.metric in SUMMARY_ONLY:
            v = getattr(s, self.metric)
            return None if v is None else float(v)
        d = getattr(s, self.metric)
        if self.metric in FROM_DUE and (due := getattr(s, FROM_DUE[self.metric][0], None)) is not None and due.n:
            d = due  # open loop
        return getattr(d, self.stat or "p50")

    def met_by_summary(self, s: RunSummary) -> bool:
        v = self.observed(s)
        return v is not None and OPS[self.op](v, self.value)

    def met_by_request(self, r: RequestRecord, open_loop: bool = False) -> bool:
        """Per-request reading used for goodput (the percentile part does not apply); ``open_loop``: TTFT and
        E2E from the scheduled arrival."""
        if self.metric not in METRICS:
            return True
        v = FROM_DUE[self.metric][1](r) if open_loop and self.metric in FROM_DUE else METRICS[self.metric](r)
        return v is not None and OPS[self.op](v, self.value)


def parse(text: str | None) -> list[Constraint]:
    if not text:
        return []
    out = []
    for part in text.split(","):
        m = _RE.match(part)
        if not m:
            raise ConfigError(f"--slo: cannot read '{part.strip()}'", "write e.g. \"p90_ttft_ms<=500,p50_tpot_ms<=40\"")
        stat, metric = m["stat"], m["metric"]
        if stat and stat not in STATS:  # e.g. "error_rate": the regex split off "error"
            metric, stat = f"{stat}_{metric}", None
        if metric not in METRICS and metric not in SUMMARY_ONLY and metric not in SUMMARY_DISTS:
            known = ", ".join(sorted([*METRICS, *SUMMARY_ONLY, *SUMMARY_DISTS]))
            raise ConfigError(f"--slo: unknown metric '{metric}'", f"use one of: {known}")
        try:
            value = float(m["value"])
        except ValueError:
            raise ConfigError(f"--slo: '{m['value']}' is not a number", "write e.g. p90_ttft_ms<=500") from None
        out.append(Constraint(stat=None if metric in SUMMARY_ONLY else stat, metric=metric, op=m["op"], value=value))
    return out
