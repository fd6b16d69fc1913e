"""``deploybench run STUDY --prune``: predict every cell, measure only those that can matter, refit as results come in.

1. Every cell (deployment x closed level) gets typed features before anything starts
   (:func:`deploybench.predict.deployed.deployment_features`) and a prediction from the priors.
2. ``calibration`` cells, spread over the predicted range, are measured first; the model is fitted.
3. Repeat: predict again, take measured figures where measured; the cells within ``margin`` of
   the best of some (model, scenario) (:func:`deploybench.predict.prune.can_matter`) that are not
   measured yet are measured, one deployment (one engine start) at a time, then the model is refitted.
4. Stop when every cell that can matter is measured. Skipped cells are never stored as cells:
   their predictions (marked predicted) go to ``prune.json`` with the predictions made for the
   measured cells just before each was measured, and the wall time and money the skipped cells
   would have cost (the plan's per-cell estimate, :func:`deploybench.sweep.study.estimate`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from .. import storage, workloads
from ..predict.cells import Cell, cell_features, measured_figures
from ..predict.deployed import deployment_features, workload_of
from ..predict.fit import FittedModel, fit, predict
from ..predict.prune import PRUNE_FILE, FIGS, PrunedCell, PruneResult, calibration_cells, can_matter, read_result
from ..schemas import ConfigError, DeploybenchError, EngineError, RunConfig, RunSummary, Study, engine_plugin
from .plan import Planned
from ..storage import run_id_for
from .resume import completed_summary
from .runner import NullReporter, Reporter, run_deployment
from .study import estimate

__all__ = ["PRUNE_FILE", "PruneResult", "PrunedCell", "read_result", "run_pruned"]

def _figures(pred) -> dict[str, float]:
    return {k: v for k in FIGS if (v := getattr(pred, k, None)) is not None}


def _grid(study: Study, planned: Sequence[Planned], prompts) -> dict[str, tuple[Planned, object, object]]:
    """run id -> (planned deployment, closed level, features); ConfigError if a cell cannot be predicted."""
    bad = [lv.key for lv in study.load.all_levels if lv.kind != "closed"]
    if bad:
        raise ConfigError(f"--prune: level(s) {', '.join(bad)} are not closed-loop; the picks it prunes for "
                          "are judged on closed levels", "drop the rate/sweep/trace levels, or run without --prune")
    fixed = next((p for p in planned if not engine_plugin(p.deployment.engine.kind).prunable), None)
    if fixed is not None:
        raise ConfigError(f"--prune: deployment {fixed.name} cannot be predicted (engine "
                          f"'{fixed.deployment.engine.kind}' cells cannot be pruned)",
                          "drop it from the study, or run without --prune")
    wl = workload_of(study.workload, prompts)
    out = {}
    for p in planned:
        path = _model_path(p)
        for level in study.load.all_levels:
            rid = run_id_for(p.name, level)
            try:
                f = deployment_features(p.deployment, level.users, wl, path, level.key)
            except DeploybenchError as exc:
                raise ConfigError(f"--prune: cannot predict {p.name}: {exc.problem}",
                                  "run without --prune (or give a model with a known architecture)") from None
            out[rid] = (p, level, f.model_copy(update={"run_id": rid}))
    return out


def _model_path(p: Planned):
    """The model file the deployment's engine will load (its plugin resolves it; cached for the run)."""
    return engine_plugin(p.deployment.engine.kind).model_file(p.deployment.engine)


def _measured_cell(study_dir: Path, rid: str) -> Cell | None:
    s = completed_summary(study_dir / rid)
    if s is None:
        return None
    meta = storage.read_meta(study_dir / rid)
    figs = measured_figures(s)
    return Cell(cell_features(meta, s), figs, s, meta) if figs else None


def _fit(cells: list[Cell]) -> FittedModel:
    if not cells:
        return FittedModel(source="priors (nothing measured yet)")
    return fit(cells, source=f"{len(cells)} measured cells of this study")


class _State:
    def __init__(self, grid, study_dir: Path):
        self.grid, self.study_dir = grid, study_dir
        self.cells: dict[str, Cell] = {}
        self.failed: set[str] = set()
        self.before: dict[str, dict[str, float]] = {}
        self.why: dict[str, list[str]] = {}
        self.model = _fit([])
        self.starts: list[tuple[Planned, list[int]]] = []  # each engine start: the levels it measured
        for rid in grid:
            c = _measured_cell(study_dir, rid)
            if c is not None:
                self.cells[rid] = c
                self.why[rid] = ["measured before (resume)"]

    def predictions(self):
        return {rid: predict(self.model, f) for rid, (_, _, f) in self.grid.items()}

    def values(self, preds) -> dict[str, dict[str, float]]:
        out = {}
        for rid, p in preds.items():
            v = _figures(p)
            c = self.cells.get(rid)
            if c is not None:  # measured figures (those the picks judge) replace predicted ones
                v.update({k: c.measured[k] for k in ("ms_per_token", "tok_s") if k in c.measured})
                if c.summary.cost_per_1m_tokens is not None:
                    v["cost_per_1m"] = c.summary.cost_per_1m_tokens
            out[rid] = v
        return out


def _while_up(state: _State, feats, rids: list[str], margin: float) -> list[str]:
    """Cells of the deployments about to start that come within twice the margin: measured in the same
    engine start (one cell costs less than starting that engine again for it in a later round)."""
    deps = {state.grid[r][0].name for r in rids}
    near = can_matter(feats, state.values(state.predictions()), 2 * margin)
    return [r for r in near if state.grid[r][0].name in deps and r not in rids and r not in state.cells]


def _measure(state: _State, study: Study, rids: list[str], prompts, reporter, failures: list[str], why: str,
             extra: list[str] = ()) -> None:
    """Measure ``rids`` (+ ``extra``, "while the engine is up") grouped by deployment, one engine start each;
    then refit."""
    preds = state.predictions()
    by_dep: dict[str, list[str]] = {}
    for rid in [*rids, *extra]:
        by_dep.setdefault(state.grid[rid][0].name, []).append(rid)
    for dep, todo in by_dep.items():
        p = state.grid[todo[0]][0]
        users = [state.grid[r][1].users for r in todo]
        load = study.load.model_copy(update={"concurrency": sorted(users), "levels": [], "rounds": 1})  # one round
        for r in todo:
            state.before[r] = _figures(preds[r])
            state.why[r] = [*state.why.get(r, []), why if r in rids else "while the engine is up"]
        state.starts.append((p, users))
        try:
            run_deployment(RunConfig(deployment=p.deployment, workload=study.workload, load=load), prompts,
                           state.study_dir, study=study.name, reporter=reporter)
        except EngineError as exc:
            failures.append(f"{dep}: {exc.line()}")
            if hasattr(reporter, "cell_failed"):
                reporter.cell_failed(dep, exc.line())
        for r in todo:
            c = _measured_cell(state.study_dir, r)
            if c is None:
                state.failed.add(r)
            else:
                state.cells[r] = c
    state.model = _fit(list(state.cells.values()))


def run_pruned(study: Study, planned: Sequence[Planned], study_dir: Path, reporter: Reporter | None = None,
               margin: float = 0.25, calibration: int = 2) -> tuple[list[RunSummary], list[str], PruneResult]:
    """Measure only the cells that can matter (see the module docstring); write ``prune.json``."""
    if margin < 0:
        raise ConfigError(f"--prune-margin: {margin} is negative", "give a fraction >= 0, e.g. 0.25")
    t0 = time.monotonic()
    reporter = reporter or NullReporter()
    study_dir.mkdir(parents=True, exist_ok=True)
    storage.atomic_write(study_dir / "study.json", study.model_dump_json(indent=2))
    prompts = workloads.load_prompts(study.workload.source)
    state = _State(_grid(study, planned, prompts), study_dir)
    failures: list[str] = []
    feats = [f for _, _, f in state.grid.values()]
    preds = state.predictions()
    calib = [r for r in calibration_cells(feats, {r: p.ms_per_token for r, p in preds.items()}, calibration)
             if r not in state.cells]
    rounds = 0
    if calib:
        _measure(state, study, calib, prompts, reporter, failures, "calibration",
                 _while_up(state, feats, calib, margin))
        rounds += 1
    for _ in range(len(state.grid)):  # each round measures at least one new cell
        matter = can_matter(feats, state.values(state.predictions()), margin)
        todo = [r for r in state.grid if r in matter and r not in state.cells and r not in state.failed]
        for r in matter:
            state.why.setdefault(r, [])
            state.why[r] += [w for w in matter[r] if w not in state.why[r]]
        if not todo:
            break
        first_dep = state.grid[todo[0]][0].name
        now = [r for r in todo if state.grid[r][0].name == first_dep]
        _measure(state, study, now, prompts, reporter, failures, "can matter", _while_up(state, feats, now, margin))
        rounds += 1
    result = _result(state, study, margin, calibration, rounds, time.monotonic() - t0)
    storage.atomic_write(study_dir / PRUNE_FILE, result.model_dump_json(indent=2))
    summaries = [c.summary for c in state.cells.values()]
    return summaries, failures, result


def _only(study: Study, users: list[int]) -> Study:
    return study.model_copy(update={"load": study.load.model_copy(update={"concurrency": sorted(users), "levels": []})})


def _result(state: _State, study: Study, margin: float, calibration: int, rounds: int, wall: float) -> PruneResult:
    """Every cell with its prediction; the plan's estimate (:func:`estimate`) of the full grid against the
    engine starts and cells this run measured."""
    preds = state.predictions()
    rows = []
    for rid, (p, level, f) in state.grid.items():
        c = state.cells.get(rid)
        status = "measured" if c is not None else "failed" if rid in state.failed else "skipped"
        pr = preds[rid]
        rows.append(PrunedCell(run_id=rid, deployment=p.name, model=f.model, concurrency=level.users, status=status,
                               why=state.why.get(rid, []), predicted=_figures(pr), uncertainty=pr.uncertainty,
                               predicted_before=state.before.get(rid), measured=c.measured if c else None))
    load = study.load
    if load.duration_s or load.adaptive:
        per = {r: (load.duration_s or load.max_duration_s or 0.0) for r in state.grid}
    else:
        n = (load.requests or 0) + load.warmup_requests
        per = {r: n * preds[r].e2e_ms / 1e3 / max(1, lv.users) for r, (_, lv, _) in state.grid.items()}
    skipped_s = sum(per[r.run_id] for r in rows if r.status == "skipped")
    planned = list({p.name: p for p, _, _ in state.grid.values()}.values())
    full = estimate(study, planned)
    done = [estimate(_only(study, users), [p]) for p, users in state.starts]
    done_s, done_usd = sum(e.wall_s for e in done), sum(e.cost_usd for e in done)
    return PruneResult(margin=margin, calibration=calibration, rounds=rounds, engine_starts=len(state.starts),
                       cells=rows, measured_cells=sum(r.status == "measured" for r in rows),
                       skipped_cells=sum(r.status == "skipped" for r in rows), full_wall_s=full.wall_s,
                       pruned_wall_s=done_s, saved_wall_s=full.wall_s - done_s, saved_usd=full.cost_usd - done_usd,
                       actual_wall_s=wall, skipped_predicted_s=skipped_s, fitted=state.model)
