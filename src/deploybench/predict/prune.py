"""Grid pruning decisions (pure): which cells of a grid can matter for a pick, and which calibrate.

A *scenario* is one of the 2023 rules (:data:`deploybench.recommend.RULES`: cost, latency,
throughput), judged per model at the rule's level (or the nearest level the grid has, as
:func:`deploybench.recommend.recommend` does). For each (model, scenario) the best value over the
grid is taken from measured figures where a cell was measured and from predictions elsewhere; a
cell *can matter* when its value is within ``margin`` of that best:

* lower is better (cost $/1M tokens, median ms/token): ``value <= best x (1 + margin)``;
* higher is better (tokens/s): ``value >= best / (1 + margin)``.

Calibration cells are spread over the predicted range so that the first fit sees both ends:
the lowest-level cell of the predicted fastest and slowest deployments, then the middle ones.
The loop that measures and refits lives in :mod:`deploybench.sweep.prune`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import BaseModel, Field

from ..recommend import RULES
from .features import CellFeatures
from .fit import FittedModel

__all__ = ["PRUNE_FILE", "PruneResult", "PrunedCell", "SCENARIO_FIGURE", "calibration_cells", "can_matter",
           "nearest_level", "read_result", "scenario_cells", "within"]

SCENARIO_FIGURE: dict[str, tuple[str, bool]] = {"cost": ("cost_per_1m", True), "latency": ("ms_per_token", True),
                                                "throughput": ("tok_s", False)}
"""scenario -> (predicted figure, lower is better)"""


def nearest_level(levels: set[int], target: int) -> int:
    """The level a rule judges when the grid lacks its own (the lower one on a tie), as the picks do."""
    return min(levels, key=lambda lv: (abs(lv - target), lv))


def scenario_cells(features: Sequence[CellFeatures]) -> dict[tuple[str, str], list[str]]:
    """(model, scenario) -> run ids of the cells that scenario's rule judges."""
    by_model: dict[str, list[CellFeatures]] = {}
    for f in features:
        by_model.setdefault(f.model, []).append(f)
    out = {}
    for model, cells in by_model.items():
        levels = {f.concurrency for f in cells}
        for scenario in SCENARIO_FIGURE:
            lv = nearest_level(levels, RULES[scenario].level)
            out[(model, scenario)] = [f.run_id for f in cells if f.concurrency == lv]
    return out


def within(value: float, best: float, lower_is_better: bool, margin: float) -> bool:
    """True when ``value`` is within ``margin`` (relative) of ``best``."""
    return value <= best * (1 + margin) if lower_is_better else value >= best / (1 + margin)


def can_matter(features: Sequence[CellFeatures], values: Mapping[str, Mapping[str, float]],
               margin: float) -> dict[str, list[str]]:
    """run id -> the "model/scenario" pairs where the cell is within ``margin`` of the best.

    ``values``: run id -> figure -> value (measured where measured, predicted otherwise); a cell
    without the scenario's figure (e.g. no price: no cost) does not compete in that scenario.
    """
    out: dict[str, list[str]] = {}
    for (model, scenario), ids in scenario_cells(features).items():
        fig, lower = SCENARIO_FIGURE[scenario]
        scored = {r: values[r][fig] for r in ids if values.get(r, {}).get(fig) is not None}
        if not scored:
            continue
        best = min(scored.values()) if lower else max(scored.values())
        for r, v in scored.items():
            if within(v, best, lower, margin):
                out.setdefault(r, []).append(f"{model}/{scenario}")
    return out


def calibration_cells(features: Sequence[CellFeatures], predicted_ms: Mapping[str, float], n: int) -> list[str]:
    """``n`` cells at each deployment's lowest level, spread over the predicted ms/token range."""
    if n <= 0:
        return []
    lowest: dict[str, CellFeatures] = {}
    for f in features:
        if f.deployment not in lowest or f.concurrency < lowest[f.deployment].concurrency:
            lowest[f.deployment] = f
    ranked = sorted(lowest.values(), key=lambda f: (predicted_ms.get(f.run_id, 0.0), f.deployment))
    if len(ranked) <= n:
        return [f.run_id for f in ranked]
    picks = [round(i * (len(ranked) - 1) / (n - 1)) for i in range(n)] if n > 1 else [0]
    return [ranked[i].run_id for i in dict.fromkeys(picks)]


# --------------------------------------------------------------------------- the record a pruned run leaves

PRUNE_FILE = "prune.json"
FIGS = ("ms_per_token", "tok_s", "ttft_ms", "tpot_ms", "cost_per_1m")


class PrunedCell(BaseModel):
    run_id: str
    deployment: str
    model: str
    concurrency: int
    status: str = Field(description="measured | skipped | failed")
    why: list[str] = Field(default_factory=list, description="calibration and/or the model/scenario it can win")
    predicted: dict[str, float] = Field(description="the final model's prediction (PREDICTED, not measured)")
    uncertainty: dict[str, float] = Field(default_factory=dict, description="relative 1-sigma of each prediction")
    predicted_before: dict[str, float] | None = Field(None, description="measured cells: the prediction made just "
                                                      "before it was measured")
    measured: dict[str, float] | None = None


class PruneResult(BaseModel):
    kind: str = "deploybench-prune"
    margin: float
    calibration: int
    rounds: int
    engine_starts: int
    cells: list[PrunedCell]
    measured_cells: int
    skipped_cells: int
    full_wall_s: float = Field(description="plan estimate of measuring every cell")
    pruned_wall_s: float = Field(description="plan estimate of the cells this run measured, one engine start per round")
    saved_wall_s: float
    saved_usd: float = Field(description="plan estimate: cost of the full grid - cost of what was measured")
    skipped_predicted_s: float | None = Field(None, description="the skipped cells' own predicted duration "
                                              "(request-bounded levels: requests x predicted E2E / users)")
    actual_wall_s: float = Field(description="wall time this pruned run took (prediction, measurement, fits)")
    fitted: FittedModel


def read_result(study_dir: Path | str) -> PruneResult | None:
    """The pruning record of a study folder (None if it was not pruned)."""
    path = Path(study_dir) / PRUNE_FILE
    if not path.is_file():
        return None
    try:
        return PruneResult.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError:
        return None
