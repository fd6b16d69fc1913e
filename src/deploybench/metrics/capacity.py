"""The highest open-loop rate a deployment sustains within an SLO (pure: summaries in, cells out)."""

from __future__ import annotations

from collections.abc import Sequence

from ..schemas import RunSummary
from .slo import Constraint

MAX_ERROR_RATE = 0.01
KEEP_UP = 0.9  # achieved / offered below this: the server did not keep up with the rate


def nominal_rps(s: RunSummary) -> float:
    """The rate a rate cell was offered (its level key, e.g. r7.14-poisson -> 7.14); 0 otherwise."""
    if s.level_kind != "rate" or not s.level.startswith("r"):
        return 0.0
    try:
        return float(s.level[1:].split("-")[0])
    except ValueError:
        return 0.0


def sustains(s: RunSummary, slos: Sequence[Constraint], max_error_rate: float = MAX_ERROR_RATE) -> bool:
    """A rate cell the server kept up with (achieved >= 90 % of offered), within the SLO and error limit."""
    if s.level_kind != "rate" or s.error_rate > max_error_rate:
        return False
    if s.offered_rps and (s.achieved_rps or 0.0) < KEEP_UP * s.offered_rps:
        return False
    return all(c.met_by_summary(s) for c in slos)


def max_rate_within_slo(summaries: Sequence[RunSummary], slos: Sequence[Constraint],
                        exclude: set[str] = frozenset()) -> dict[str, RunSummary]:
    """Per deployment, its highest-rate cell that sustains the SLO (deployments with none are absent)."""
    best: dict[str, RunSummary] = {}
    for s in summaries:
        if s.run_id in exclude or not sustains(s, slos):
            continue
        cur = best.get(s.deployment)
        if cur is None or nominal_rps(s) > nominal_rps(cur):
            best[s.deployment] = s
    return best
