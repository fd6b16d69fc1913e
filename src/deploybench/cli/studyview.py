"""Console views of a study: the plan (dry run) and the three recommendations."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from .. import api
from ..schemas import RunSummary


def _dur(seconds: float) -> str:
    m, s = divmod(int(round(seconds)), 60)
    h, m = divmod(m, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def print_plan(study, planned, est, console: Console) -> None:
    rounds = study.load.rounds
    t = Table(title=f"plan: {study.name} — {len(planned)} deployments x {len(study.load.all_levels)} levels"
              + (f" x {rounds} rounds" if rounds > 1 else ""))
    for col in ("deployment", "engine", "hardware", "$/hour", "levels", "status"):
        t.add_column(col)
    by_dep: dict[str, list] = {}
    for cell in est.cells:
        by_dep.setdefault(cell.deployment, []).append(cell)
    for p in planned:
        cells = by_dep[p.name]
        done = sum(c.done for c in cells)
        price = p.deployment.hardware.price_per_hour
        t.add_row(p.name, p.deployment.engine.kind, p.deployment.hardware.name,
                  "—" if price is None else f"{price:.4f}", ",".join(dict.fromkeys(str(c.level) for c in cells)),
                  "complete" if done == len(cells) else (f"{done}/{len(cells)} done" if done else "to run"))
    console.print(t)
    todo = sum(not c.done for c in est.cells)
    console.print(f"{len(est.cells)} cells ({todo} to run); estimated wall time {_dur(est.wall_s)}; "
                  f"estimated cost ${est.cost_usd:.4f} (cloud ${est.cloud_cost_usd:.2f}, limit ${study.max_cost:.2f})",
                  highlight=False)
    if est.cloud_cost_usd > study.max_cost:
        console.print(f"a real run would be refused: cloud cost estimate ${est.cloud_cost_usd:.2f} is above "
                      f"max_cost ${study.max_cost:.2f} (raise it with --max-cost if you mean it)", highlight=False)


def print_picks(summaries: Sequence[RunSummary], console: Console) -> None:
    """The three recommendations, one table per scenario titled with the rule that chose them."""
    for scenario in ("cost", "latency", "throughput"):
        picks = api.recommend_picks(list(summaries), scenario)
        if not picks:
            continue
        t = Table(title=f"{scenario}: {picks[0].rule}", title_justify="left")
        for col in ("model", "pick", "conc", picks[0].unit or "figure", "vs runner-up"):
            t.add_column(col)
        for p in picks:
            t.add_row(p.group, p.deployment or "—", str(p.concurrency or "—"),
                      "—" if p.value is None else f"{p.value:.4g}", p.margin_text)
        console.print(t)


def end_picks(summaries: Sequence[RunSummary], slo: str | None = None) -> list[tuple[str, list]]:
    """(scenario, picks) for the end of a run: the three rules, and the SLO's cheapest cell if the study has one."""
    out = [(scenario, api.recommend_picks(list(summaries), scenario)) for scenario in ("cost", "latency", "throughput")]
    if slo:
        out.append(("slo", api.recommend_picks(list(summaries), "cost", slo=slo)))
    return [(scenario, picks) for scenario, picks in out if picks]
