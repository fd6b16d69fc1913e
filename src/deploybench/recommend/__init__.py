"""Recommendations: pure functions over run summaries (no I/O).

* :func:`recommend` - the 2023 study's rules per model (cost @ c=5, latency @ c=1,
  throughput @ c=20), or the cheapest cell meeting an SLO; each :class:`Pick` carries its rule,
  runner-up, margin and a tie flag.
* :func:`pareto` - the cost vs latency front.

On the imported 2023 data, ``docs/seed-2023.md`` lists where the published tables depart from
their own rules.
"""

from __future__ import annotations

from .figures import BASES, Basis, parse_latency, study_throughput
from .pareto import DEFAULT_LATENCY, ParetoPoint, front, pareto
from .picks import RULES, SCENARIOS, TIE_REL, Contender, Pick, Rule, recommend

__all__ = ["BASES", "Basis", "Contender", "DEFAULT_LATENCY", "ParetoPoint", "Pick", "RULES", "Rule",
           "SCENARIOS", "TIE_REL", "front", "pareto", "parse_latency", "recommend", "study_throughput"]
