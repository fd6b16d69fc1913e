"""Recommendations: pure functions over run summaries (no I/O).

* :func:`recommend` - the 2023 study's rules per model (cost @ c=5, latency @ c=1,
  throughput @ c=20), or the cheapest cell meeting an SLO; each :class:`Pick` carries its rule,
  runner-up, margin and a tie flag.
* :func:`pareto` - the cost vs latency front.
* :func:`interactivity_front` - per-user speed vs throughput per device and cost, with read-offs at a target
  speed; :func:`cheapest_at` - the cheapest deployment at that speed (:mod:`.interactivity`, :mod:`.devices`).

On the imported 2023 data, ``docs/seed-2023.md`` lists where the published tables depart from
their own rules.
"""

from __future__ import annotations

from .devices import Devices, devices_by_run, devices_of
from .figures import BASES, Basis, parse_latency, study_throughput
from .pareto import DEFAULT_LATENCY, ParetoPoint, front, pareto
from .interactivity import Curve, Front, ReadOff, SpeedPick, cheapest_at, interactivity_front
from .picks import RULES, SCENARIOS, TIE_REL, Contender, Pick, Rule, recommend

__all__ = ["BASES", "Basis", "Contender", "Curve", "DEFAULT_LATENCY", "Devices", "Front", "ParetoPoint", "Pick",
           "RULES", "ReadOff", "Rule", "SCENARIOS", "SpeedPick", "TIE_REL", "cheapest_at", "devices_by_run",
           "devices_of", "front", "interactivity_front", "pareto", "parse_latency", "recommend", "study_throughput"]
