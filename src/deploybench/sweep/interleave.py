"""A study's rounds, interleaved: every deployment x level once per round, the order rotating.

Within a round the levels go one after another, and at each level every deployment is measured
back to back, so two deployments' cells at one level are minutes apart at most, and a host's slow
phase hits them alike (the paired picks compare them round by round). The deployments' order
rotates by one each round, so no deployment always goes first after a level change.

Engines quick to start on this host (llama-server, an external endpoint) stay up across rounds
while memory allows (an engine that would leave less than :data:`MIN_FREE_BYTES` free makes the
others stop first; they start again when their turn comes). Engines slow to start (vLLM, TGI,
SageMaker: ``startup_s`` above :data:`FAST_START_S`) keep one server and run their rounds back to
back; each cell says which design it got (``round_design``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import psutil

from ..schemas import EngineError, RunConfig, RunSummary, Study, engine_plugin
from .plan import Planned
from .runner import (Held, Reporter, auto_client_cores, measure_held, rotated, run_deployment, sort_rounds,
                     start_engine, todo_cells)

FAST_START_S = 10.0
"""Engines whose plugin says they start faster than this are interleaved (kept up between rounds)."""
MIN_FREE_BYTES = 1 << 30
"""Keep at least this much memory free when holding several engines up at once."""


def interleavable(cfg: RunConfig) -> bool:
    plugin = engine_plugin(cfg.deployment.engine.kind)
    return plugin.startup_s <= FAST_START_S and not plugin.cloud and not cfg.load.restart_server


class _Engines:
    """Engines held up across rounds; all stopped on exit, whatever ends the study."""

    def __init__(self, study_dir: Path) -> None:
        self.study_dir, self.held = study_dir, {}

    def get(self, name: str, cfg: RunConfig) -> Held:
        if name not in self.held:
            if self.held and psutil.virtual_memory().available < MIN_FREE_BYTES:
                self.stop_all()
            self.held[name] = start_engine(cfg, self.study_dir, auto_client_cores(cfg))
        return self.held[name]

    def stop(self, name: str) -> None:
        held = self.held.pop(name, None)
        if held is not None:
            held.engine.stop()

    def stop_all(self) -> None:
        for name in list(self.held):
            self.stop(name)


def run_interleaved(study: Study, planned: Sequence[Planned], prompts, study_dir: Path, reporter: Reporter,
                    resume: bool) -> tuple[list[RunSummary], list[str]]:
    """Measure ``planned`` in ``study.load.rounds`` interleaved rounds; returns summaries and failures."""
    cfgs = {p.name: RunConfig(deployment=p.deployment, workload=study.workload, load=study.load) for p in planned}
    summaries: dict[str, list[RunSummary]] = {name: [] for name in cfgs}
    todo: dict[str, set] = {}
    for name, cfg in cfgs.items():
        cells, done = todo_cells(cfg, study_dir, resume, reporter)
        summaries[name] += done
        todo[name] = {(rnd, lv.key) for rnd, lv in cells}
    failures: dict[str, str] = {}
    engines = _Engines(study_dir)
    names = list(cfgs)
    try:
        for rnd in range(1, study.load.rounds + 1):
            levels = study.load.all_levels
            for level in rotated(levels, rnd - 1):
                for name in rotated(names, rnd - 1):
                    if name in failures or (rnd, level.key) not in todo[name]:
                        continue
                    try:
                        held = engines.get(name, cfgs[name])
                        summaries[name] += measure_held(held, cfgs[name], prompts, [(rnd, level)], study_dir,
                                                        study.name, reporter, {}, "interleaved")
                    except EngineError as exc:  # one deployment failing does not lose the others
                        engines.stop(name)
                        failures[name] = _failed(reporter, name, exc)
    finally:
        engines.stop_all()
    out = [s for name in names for s in sort_rounds(cfgs[name], summaries[name])]
    return out, list(failures.values())


def run_back_to_back(study: Study, planned: Sequence[Planned], prompts, study_dir: Path, reporter: Reporter,
                     resume: bool) -> tuple[list[RunSummary], list[str]]:
    """Engines slow to start: one start each, its rounds one after another."""
    summaries, failures = [], []
    for p in planned:
        cfg = RunConfig(deployment=p.deployment, workload=study.workload, load=study.load)
        try:
            summaries += run_deployment(cfg, prompts, study_dir, study=study.name, reporter=reporter, resume=resume,
                                        design="back-to-back" if study.load.rounds > 1 else "interleaved")
        except EngineError as exc:
            failures.append(_failed(reporter, p.name, exc))
    return summaries, failures


def _failed(reporter: Reporter, name: str, exc: EngineError) -> str:
    """Tell the reporter a deployment failed; its line for the study's failures."""
    if hasattr(reporter, "cell_failed"):
        reporter.cell_failed(name, exc.line())
    return f"{name}: {exc.line()}"
