"""The bridge between :mod:`deploybench.recommend` and the report formats.

``recommend()`` decides; this module only looks its picks up in the store so every format shows
the chosen cell's own figures next to the rule that chose it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..metrics import Constraint
from .data import Cell, Store

SCENARIOS = ("cost", "latency", "throughput")
TITLES = {"cost": "Most cost-effective", "latency": "Lowest latency", "throughput": "Highest throughput"}


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
    margin: str | None = None
    tie: bool = False
    pick: Any = None


@dataclass
class Recommendation:
    scenario: str
    title: str
    rules: list[str]
    rows: list[PickRow]
    notes: list[str] = field(default_factory=list)


def recommendations(store: Store, slo: Sequence[Constraint] | None = None,
                    basis: str = "deploybench") -> list[Recommendation]:
    """The three scenarios' picks, each row resolved to its cell in ``store``."""
    from ..recommend import recommend

    out = []
    for scenario in SCENARIOS:
        picks = recommend(store.summaries, scenario, slo=list(slo) if slo else None, basis=basis)
        rows = [row for p in picks if (row := _row(store, scenario, p)) is not None]
        rules = list(dict.fromkeys(r.rule for r in rows if r.rule))
        notes = [f"{r.group}: tie — {r.margin or 'no margin'}" for r in rows if r.tie]
        if not rows:
            notes.append("no cell qualifies" + (f" under the SLO {', '.join(map(str, slo))}" if slo else ""))
        out.append(Recommendation(scenario, TITLES[scenario], rules, rows, notes))
    return out


def pareto_cells(store: Store) -> list[Cell]:
    """Cells on the cost / latency Pareto front, in front order."""
    from ..recommend import pareto

    front = pareto(store.summaries)
    cells = [_cell_of(store, item) for item in front]
    return [c for c in cells if c is not None]


def _cell_of(store: Store, item: Any) -> Cell | None:
    run_id = getattr(item, "run_id", None)
    if run_id is None and isinstance(item, dict):
        run_id = item.get("run_id")
    if run_id is not None:
        return store.by_run_id(run_id)
    dep, conc = getattr(item, "deployment", None), getattr(item, "concurrency", None)
    return store.find(dep, conc) if dep is not None and conc is not None else None


def _row(store: Store, scenario: str, pick: Any) -> PickRow | None:
    cell = _cell_of(store, pick)
    if cell is None:
        return None
    s = cell.summary
    runner = getattr(pick, "runner_up", None)
    margin = getattr(pick, "margin", None)
    return PickRow(
        scenario=scenario, group=str(getattr(pick, "group", cell.model)), cell=cell,
        ms_per_token=s.ms_per_token.p50, tokens_per_s=s.output_throughput_tok_s,
        price_per_hour=s.price_per_hour, minutes_per_1m=s.minutes_per_1m_tokens, cost_per_1m=s.cost_per_1m_tokens,
        rule=str(getattr(pick, "rule", "") or ""), runner_up=_describe(store, runner),
        margin=None if margin is None else str(margin), tie=bool(getattr(pick, "tie", False)), pick=pick,
    )


def _describe(store: Store, runner: Any) -> str | None:
    if runner is None:
        return None
    if isinstance(runner, str):
        return runner
    cell = _cell_of(store, runner)
    return f"{cell.deployment} @ c={cell.concurrency}" if cell else str(runner)
