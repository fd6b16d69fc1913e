"""Quality for a study's deployments (``quality:`` in the study), stored as ``quality.json``.

Methods ``kld`` and ``perplexity`` measure each llama.cpp model x quantization once (deployments
that differ only in hardware or engine settings share it; cached by model hash across studies).
Method ``agreement`` starts each deployment in turn (any engine) and compares its greedy outputs
with the reference deployment's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import engines
from ..schemas import ConfigError, Study, engine_plugin
from ..schemas import plugins
from ..schemas.quality import QualityConfig, QualityResult, QualityTable
from . import agreement as agr
from .ladder import measure_ladder
from .store import read_table, write_table


def check(study: Study, planned: Sequence[Any]) -> None:
    """Before anything starts: the reference exists; kld/perplexity have llama.cpp deployments."""
    q = study.quality
    if q is None:
        return
    names = [p.name for p in planned]
    if q.method == "agreement":
        if q.reference and q.reference not in names:
            raise ConfigError(f"quality.reference: '{q.reference}' is not a deployment of this study",
                              f"use one of: {', '.join(names[:8])}")
        if len(names) < 2:
            raise ConfigError("quality.method: agreement needs at least two deployments", "add a deployment or use kld")
    elif not any(_ladder_model(p.deployment.engine) for p in planned):
        raise ConfigError(f"quality.method: {q.method} runs llama-perplexity on llama.cpp models, and no deployment "
                          "of this study serves one", "use method: agreement")


def measure(study: Study, planned: Sequence[Any], study_dir: Path) -> QualityTable | None:
    """Write ``quality.json`` in ``study_dir`` for the study's deployments; returns the table."""
    q = study.quality
    if q is None:
        return None
    if q.method == "agreement":  # servers must be started: keep what an earlier run measured
        old = read_table(study_dir)
        table = old if old is not None and old.method == q.method else QualityTable(method=q.method)
        _agreement(q, planned, [p for p in planned if table.for_deployment(p.name) is None], table, study_dir)
    else:  # cached by model hash, text and shape: measuring again is a cache look-up
        table = QualityTable(method=q.method)
        _ladder(q, planned, table)
    write_table(study_dir, table)
    return table


def _ladder(q: QualityConfig, todo: Sequence[Any], table: QualityTable) -> None:
    groups: dict[tuple[str, str], list[str]] = {}
    for p in todo:
        ladder = _ladder_model(p.deployment.engine)
        if ladder is None:
            kind = p.deployment.engine.kind
            table.notes.append(f"{p.name}: no {q.method} figure ({kind} deployments need method agreement)")
            continue
        groups.setdefault(ladder, []).append(p.name)
    for (ref, quant), names in groups.items():
        res = measure_ladder(ref, [quant], q.method, ctx=q.ctx, chunks=q.chunks, threads=q.threads, text=q.text)[0]
        table.results.append(res.model_copy(update={"deployments": names}))


def _ladder_model(engine) -> tuple[str, str] | None:
    """(model, quantization) the quality ladder measures for this engine config: its plugin's quality backend."""
    return engine_plugin(engine.kind).quality_ladder(engine)


def _outputs(p: Any, prompts: list[str], q: QualityConfig, study_dir: Path) -> list[str]:
    log_dir = study_dir / "_servers" / f"quality-{p.name}"
    log_dir.mkdir(parents=True, exist_ok=True)
    with engines.create(p.deployment.engine, log_dir) as ep:
        return agr.greedy_outputs(ep, prompts, q.max_tokens, q.protocol or "openai-completions")


def _agreement(q: QualityConfig, planned: Sequence[Any], todo: Sequence[Any], table: QualityTable,
               study_dir: Path) -> None:
    if not todo:
        return
    ref = next(p for p in planned if p.name == (q.reference or planned[0].name))
    prompts = agr.prompt_set(q.prompts, text=q.text)
    ref_out = _outputs(ref, prompts, q, study_dir)
    for p in todo:
        out = ref_out if p is ref else _outputs(p, prompts, q, study_dir)
        table.results.append(agreement_result(p.deployment, ref.name, agr.compare(ref_out, out), q,
                                              note="the reference itself" if p is ref else None))


def agreement_result(dep: Any, reference: str, figures: dict[str, float], q: QualityConfig,
                     note: str | None = None) -> QualityResult:
    serving = plugins.serving(dep.engine)
    return QualityResult(method="agreement", model=serving.model, quantization=serving.weight_precision or "native",
                         deployments=[dep.name], reference=reference, baseline=f"greedy outputs of {reference}",
                         prompts=q.prompts, max_tokens=q.max_tokens, note=note, **figures)
