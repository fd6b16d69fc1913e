"""Cost vs latency Pareto front: the cells no other cell beats on both."""

from __future__ import annotations

from collections.abc import Sequence

from ..schemas import RunSummary
from . import figures as fig

DEFAULT_LATENCY = "p50_ms_per_token"


class ParetoPoint(fig.CellRef):
    """A cell on the cost vs latency front."""

    group: str
    cost_per_1m_tokens: float
    latency: float
    latency_metric: str
    basis: str = "deploybench"


def _dominates(a: ParetoPoint, b: ParetoPoint) -> bool:
    return (a.cost_per_1m_tokens <= b.cost_per_1m_tokens and a.latency <= b.latency
            and (a.cost_per_1m_tokens < b.cost_per_1m_tokens or a.latency < b.latency))


def front(points: Sequence[ParetoPoint]) -> list[ParetoPoint]:
    """Points not dominated by any other (identical points all stay), cheapest first."""
    keep = [p for p in points if not any(_dominates(q, p) for q in points if q is not p)]
    return sorted(keep, key=lambda p: (p.cost_per_1m_tokens, p.latency, p.run_id))


def pareto(summaries: Sequence[RunSummary], latency: str = DEFAULT_LATENCY, per_concurrency: bool = True,
           per_group: bool = True, basis: str = "deploybench",
           external: fig.External | None = None) -> list[ParetoPoint]:
    """The cost-per-1M-tokens vs ``latency`` front.

    ``latency`` is ``<stat>_<metric>`` over a summary distribution, e.g. ``p90_ttft_ms`` or
    ``p50_ms_per_token`` (the default). Imported 2023 cells have the server's time per token
    instead of the client's: with ``*_ms_per_token``, a front whose cells have no client figure
    uses ``*_server_ms_per_token`` (never both in one front; ``latency_metric`` says which).
    Fronts are computed within each model (``per_group``) and, with ``per_concurrency``, within
    each concurrency level; the result is ordered by group, level, then cost. Cells without a
    price or without the latency figure are left out.
    """
    fig.check_basis(basis)
    stat, field = fig.parse_latency(latency)
    cells: dict[tuple, list[RunSummary]] = {}
    for s in summaries:
        key = (fig.group_order(fig.group_of(s)) if per_group else (), s.concurrency if per_concurrency else 0)
        cells.setdefault(key, []).append(s)
    out: list[ParetoPoint] = []
    for key in sorted(cells):
        used = fig.ms_per_token_figure(cells[key]) if field == "ms_per_token" else field
        out += front([p for s in cells[key] if (p := _point(s, stat, used, basis, external)) is not None])
    return out


def _point(s: RunSummary, stat: str, field: str, basis: str, external: fig.External | None) -> ParetoPoint | None:
    c, lat = fig.cost(s, basis, external), fig.latency(s, stat, field)
    if c is None or lat is None:
        return None
    return ParetoPoint(**fig.cell_ref(s), group=fig.group_of(s), cost_per_1m_tokens=c, latency=lat, latency_metric=f"{stat}_{field}", basis=basis)
