"""The predict model applied to a stored study folder: fit and save, predict each cell, plan capacity.

What ``deploybench predict ...`` and ``deploybench capacity`` do, as library functions (the CLI
only prints their results; ``deploybench.api`` exposes them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..metrics.slo import Constraint
from ..schemas import ConfigError
from . import capacity as cap
from .cells import Cell, load_cells, measured_figures
from .fit import FittedModel, fit, predict, roofline_fraction

MODEL_FILE = "predict-model.json"
"""Where ``predict fit`` writes the model in a study folder, and where the other commands look first."""


def _cells(path: Path | str) -> list[Cell]:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"path {path} does not exist",
                          "give a folder written by `deploybench run` or `deploybench import-seed`")
    return load_cells(path)


def fit_study(path: Path | str, out: Path | str | None = None) -> tuple[FittedModel, Path]:
    """Calibrate on every complete cell of a study; write the model (default ``PATH/predict-model.json``)."""
    model = fit(_cells(path), source=str(path))
    return model, model.save(out or Path(path) / MODEL_FILE)


def study_model(path: Path | str, model_file: Path | str | None = None) -> tuple[list[Cell], FittedModel]:
    """A study's cells and the model to predict them with: ``model_file``, else the study's saved model,
    else one fitted now."""
    cells = _cells(path)
    if model_file is not None:
        return cells, FittedModel.load(model_file)
    stored = Path(path) / MODEL_FILE
    return cells, FittedModel.load(stored) if stored.is_file() else fit(cells, source=str(path))


def predicted_cells(path: Path | str, model_file: Path | str | None = None) -> list[dict[str, Any]]:
    """Every cell predicted (with its uncertainty) beside its measured figures, its roofline share and the
    hardware and devices it was predicted on (the engine plugin's TP degree)."""
    cells, model = study_model(path, model_file)
    rows = []
    for c in cells:
        m = measured_figures(c.summary) if c.summary else {}
        rows.append({"run_id": c.features.run_id, "prediction": predict(model, c.features).model_dump(), "measured": m,
                     "roofline_fraction": roofline_fraction(c.features, m.get("ms_per_token"), m.get("tpot_ms")),
                     "hardware": c.features.hardware.name, "devices": c.features.hardware.devices})
    return rows


def _fit_errors(cells: Sequence[Cell], model: FittedModel) -> dict[str, float]:
    """Per deployment: the model's mean ms/token error (%) on its measured cells (TPOT where a cell has no
    ms/token: imported tables)."""
    errs: dict[str, list[float]] = {}
    for c in cells:
        fig = next((k for k in ("ms_per_token", "tpot_ms") if k in c.measured), None)
        if fig is not None:
            p = predict(model, c.features)
            errs.setdefault(c.features.deployment, []).append(getattr(p, fig) / c.measured[fig] - 1)
    return {d: 100 * sum(v) / len(v) for d, v in errs.items()}


def capacity_plan(path: Path | str, target_rate: float, slo: Sequence[Constraint], life: cap.Lifecycle,
                  model_file: Path | str | None = None) -> list[cap.PlanRow]:
    """Replicas and fleet cost per deployment of a study for ``target_rate`` within ``slo`` (a measured rate
    sweep's highest rate within the SLO where there is one, predicted otherwise; ``PlanRow.source`` says which)."""
    cap.check_slo(slo)
    cells, model = study_model(path, model_file)
    kinds = {c.features.deployment: (c.meta.engine.kind if c.meta and c.meta.engine else "") for c in cells}
    return cap.plan([c.features for c in cells], model, slo, target_rate, life, kinds, _fit_errors(cells, model),
                    cap.measured_rates(path, slo))
