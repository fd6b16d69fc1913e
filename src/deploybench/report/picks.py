"""The bridge between :mod:`deploybench.recommend` and the report formats.

``recommend()`` decides; this module only resolves each :class:`~deploybench.recommend.Pick` to
its cell in the store, so every format prints the pick's own figures (on the chosen basis) next
to the rule that chose it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..metrics import Constraint
from ..recommend import figures, pareto, recommend
from .data import Cell, Store

SCENARIOS = ("cost", "latency", "throughput")
TITLES = {"cost": "Most cost-effective", "latency": "Lowest latency", "throughput": "Highest throughput",
          "slo": "Cheapest meeting the SLO"}


@dataclass
class PickRow:
    """One recommended cell, with the figures the 2023 study's tables show."""

    scenario: str
    group: str
    cell: Cell
    ms_per_token: float | None
    tokens_per_s: float | None
    price_per_hour: float | None
    minutes_per_1m: float | None
    cost_per_1m: float | None
    rule: str = ""
    runner_up: str | None = None
    margin: float | None = None
    margin_text: str = ""
    tie: bool = False
    pick: Any = None


@dataclass
class Recommendation:
    scenario: str
    title: str
    rules: list[str]
    rows: list[PickRow]
    notes: list[str] = field(default_factory=list)
    picks: list[Any] = field(default_factory=list)  # as recommend() returned them


@dataclass
class FrontPoint:
    """A cell on its model's cost / latency Pareto front (figures on the report's basis)."""

    cell: Cell
    group: str
    cost: float
    latency: float
    latency_metric: str


def external_of(store: Store) -> dict[str, dict[str, Any]]:
    """Imported figures by run id (what ``basis="study"`` reads)."""
    return {c.run_id: dict(c.meta.external) for c in store.cells if c.meta.external}


def recommendations(store: Store, slo: Sequence[Constraint] | None = None,
                    basis: str = "deploybench") -> list[Recommendation]:
    """The 2023 study's three rules (and, with an SLO, the cheapest cell meeting it), resolved to cells."""
    ext = external_of(store)
    runs = [(s, recommend(store.summaries, s, basis=basis, external=ext)) for s in SCENARIOS]
    if slo:
        runs.append(("slo", recommend(store.summaries, "cost", slo=list(slo), basis=basis, external=ext)))
    return [_recommendation(store, scenario, picks) for scenario, picks in runs]


def _recommendation(store: Store, scenario: str, picks: list[Any]) -> Recommendation:
    rows, notes = [], []
    for p in picks:
        row = _row(store, scenario, p)
        if row is not None:
            rows.append(row)
        if p.note:
            notes.append(f"{p.group}: {p.note}")
        if getattr(p, "skipped", None):
            notes.append(f"{p.group}: left out of the pick: {'; '.join(p.skipped)}")
    rules = list(dict.fromkeys(p.rule for p in picks if p.rule))
    if not picks:
        notes.append("no cells to recommend from")
    return Recommendation(scenario, TITLES[scenario], rules, rows, notes, list(picks))


def _row(store: Store, scenario: str, pick: Any) -> PickRow | None:
    cell = store.by_run_id(pick.run_id) if pick.run_id else None
    if cell is None:
        return None
    ru = pick.runner_up
    return PickRow(
        scenario=scenario, group=pick.group, cell=cell, ms_per_token=pick.ms_per_token_p50,
        tokens_per_s=pick.tokens_per_s, price_per_hour=pick.price_per_hour,
        minutes_per_1m=pick.minutes_per_1m_tokens, cost_per_1m=pick.cost_per_1m_tokens, rule=pick.rule,
        runner_up=f"{ru.deployment} @ c={ru.concurrency}" if ru else None, margin=pick.margin,
        margin_text=pick.margin_text if ru else "", tie=pick.tie, pick=pick,
    )


def pareto_front(store: Store, basis: str = "deploybench") -> list[FrontPoint]:
    """Each model's cost / median ms/token front across all its cells (any concurrency)."""
    points = pareto(store.summaries, per_concurrency=False, per_group=True, basis=basis,
                    external=external_of(store))
    out = []
    for p in points:
        cell = store.by_run_id(p.run_id)
        if cell is not None:
            out.append(FrontPoint(cell, p.group, p.cost_per_1m_tokens, p.latency, p.latency_metric))
    return out


def cost_reader(store: Store, basis: str):
    """A function giving a cell's $ per 1M tokens on the report's basis (study throughput for "study")."""
    ext = external_of(store)
    return lambda cell: figures.cost(cell.summary, basis, ext)
