"""Study file -> validated grid of deployments. Every error names the file, the field and the fix."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..engines.modelgen import QTYPES, parse_params, parse_random_ref
from ..engines.modelgen.resolver import GEMMA_NAMES
from ..engines.models import ALIASES, BUNDLED
from ..schemas.errors import from_validation
from ..schemas import (
    ConfigError, Deployment, Hardware, HardwareProfile, LlamaCppEngine, SageMakerEngine, Study, TgiEngine, VllmEngine,
)

QUANT_TYPES = set(QTYPES) | {"native", "gptq", "awq"}
GENERATED_PREFIXES = ("random-llama:",)
EXTRA_BUNDLED = set(GEMMA_NAMES)


@dataclass
class Planned:
    deployment: Deployment
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.deployment.name


def load_study(path: Path) -> Study:
    if not path.is_file():
        raise ConfigError(f"study file {path} not found", "give the path of a study YAML (see examples/)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)})",
                          "fix the YAML syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top", "start with `name: my-study`")
    _relative_to(data, path.parent)
    return validate_study(data, str(path))


def _relative_to(data: dict, folder: Path) -> None:
    """Relative workload paths in a study file are relative to the file's folder."""
    workload = data.get("workload")
    source = workload.get("source") if isinstance(workload, dict) else None
    if isinstance(source, dict) and isinstance(source.get("path"), str):
        p = Path(source["path"]).expanduser()
        if not p.is_absolute():
            source["path"] = str((folder / p).resolve())


def validate_study(data: dict, where: str = "study") -> Study:
    try:
        return Study.model_validate(data)
    except ValidationError as exc:
        raise from_validation(exc, where) from None


def plan(study: Study, where: str = "study") -> list[Planned]:
    """Expand the grid, apply include/exclude, validate every point against this host and the catalog."""
    out: list[Planned] = []
    _check_not_empty(study, where)
    for key, values in study.engine.settings.items():
        if isinstance(values, list) and len({repr(v) for v in values}) < len(values):
            raise ConfigError(f"{where}: engine.settings.{key}: a value repeats in {values}", "list each value once")
    for mi, model in enumerate(study.models):
        _check_model(study, model.source, f"{where}: models[{mi}].source")
        for quant in model.quantizations or study.quantizations:
            _check_quant(quant, f"{where}: quantizations")
            for hi, hw in enumerate(study.hardware):
                price = price_of(hw, f"{where}: hardware[{hi}]")
                for settings in _settings_grid(study.engine.settings):
                    labels = {"model": model.name, "quantization": quant, "hardware": hw.name,
                              "engine": study.engine.kind}
                    if study.include and not any(r.matches(labels, settings) for r in study.include):
                        continue
                    if any(r.matches(labels, settings) for r in study.exclude):
                        continue
                    engine = _engine(study, model.source, quant, hw, settings, f"{where}: hardware[{hi}]")
                    name = _name(model.name, quant, hw.name, settings, study.engine.settings)
                    dep = Deployment(name=name, engine=engine, protocol=_protocol(study),
                                     hardware=Hardware(name=hw.name, price_per_hour=price), labels=labels)
                    out.append(Planned(dep, settings))
    for dep in study.deployments:
        labels = {"model": dep.labels.get("model", dep.name), "quantization": dep.labels.get("quantization", "native"),
                  "hardware": dep.hardware.name, "engine": dep.engine.kind, **dep.labels}
        out.append(Planned(dep.model_copy(update={"labels": labels})))
    names = [p.name for p in out]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ConfigError(f"{where}: deployment names repeat: {', '.join(sorted(dupes))}",
                          "give each entry of models, hardware and deployments a unique name")
    if not out:
        raise ConfigError(f"{where}: the grid is empty after include/exclude", "loosen the include/exclude rules")
    return out


def _check_not_empty(study: Study, where: str) -> None:
    """An empty grid list names itself (not "the grid is empty")."""
    if study.deployments and not study.models:
        return
    empty = [f for f in ("models", "hardware") if not getattr(study, f)]
    if study.models and not study.quantizations and not all(m.quantizations for m in study.models):
        empty.append("quantizations")
    if empty:
        raise ConfigError(f"{where}: {empty[0]}: the list is empty",
                          f"list at least one entry under {empty[0]} (see examples/)")


ENGINE_PROTOCOLS = {"sagemaker": ("sagemaker-tgi",), "tgi": ("tgi",)}


def _protocol(study: Study) -> str:
    """The study's protocol, or the only one its engine speaks (TGI, SageMaker)."""
    allowed = ENGINE_PROTOCOLS.get(study.engine.kind)
    if allowed and study.protocol not in allowed:
        if "protocol" in study.model_fields_set:
            raise ConfigError(f"study: protocol '{study.protocol}' does not fit engine '{study.engine.kind}'",
                              f"use protocol: {allowed[0]} (or leave it out)")
        return allowed[0]
    return study.protocol


def _settings_grid(settings: dict[str, Any]) -> list[dict[str, Any]]:
    keys = list(settings)
    values = [v if isinstance(v, list) else [v] for v in settings.values()]
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)] or [{}]


def _name(model: str, quant: str, hw: str, settings: dict, grid: dict) -> str:
    parts = [model, quant, hw] + [f"{k}{settings[k]}" for k, v in grid.items() if isinstance(v, list) and len(v) > 1]
    return "_".join(str(p).replace("/", "-").replace(" ", "") for p in parts)


def _check_model(study: Study, source: str, where: str) -> None:
    if study.engine.kind not in ("llamacpp",):
        return  # a model id for a remote engine; checked by that engine
    if source.startswith(GENERATED_PREFIXES):
        try:
            parse_params(parse_random_ref(source)[0])
        except (ConfigError, ValueError) as exc:
            raise ConfigError(f"{where}: bad generated model '{source}'",
                              "write random-llama:<size>, e.g. random-llama:50M") from exc
        return
    if ALIASES.get(source, source) in BUNDLED or source in EXTRA_BUNDLED:
        return
    if not Path(source).expanduser().is_file():
        raise ConfigError(f"{where}: unknown model '{source}'",
                          f"use a GGUF path, random-llama:<size> or one of: {', '.join(sorted(set(BUNDLED) | EXTRA_BUNDLED))}")


def _check_quant(quant: str, where: str) -> None:
    if quant not in QUANT_TYPES:
        raise ConfigError(f"{where}: unknown quantization '{quant}'", f"use one of: {', '.join(sorted(QUANT_TYPES))}")


def price_of(hw: HardwareProfile, where: str) -> float:
    if hw.price_per_hour is not None:
        return hw.price_per_hour
    if hw.kind == "instance":
        from ..catalog import load_catalog

        return load_catalog().price(hw.instance_type, hw.region).usd_per_hour
    if hw.price_per_vcpu_hour == "catalog":
        from ..catalog import load_catalog

        return load_catalog().cpu_profile_price(hw.threads or 1)
    if isinstance(hw.price_per_vcpu_hour, (int, float)):
        return float(hw.price_per_vcpu_hour) * (hw.threads or 1)
    raise ConfigError(f"{where} '{hw.name}': no price",
                      "set price_per_hour, or price_per_vcpu_hour: catalog (or a number)")


def _engine(study: Study, source: str, quant: str, hw: HardwareProfile, settings: dict, where: str):
    kind = study.engine.kind
    q = None if quant == "native" else quant
    try:
        if kind == "llamacpp":
            _check_cpu(hw, where)
            return LlamaCppEngine(model=source, quantization=q, threads=hw.threads or 1, cpu_set=hw.cpu_set, **settings)
        if kind == "vllm":
            return VllmEngine(model=source, quantization=q, tensor_parallel_size=hw.tp or 1, **settings)
        gpus = _gpus(hw, where)
        if kind == "tgi":
            return TgiEngine(model_id=source, quantize=q, num_shard=hw.tp or gpus or 1, **settings)
        return SageMakerEngine(model_id=source, instance_type=hw.instance_type, region=hw.region, quantize=q,
                               num_gpus=hw.tp or gpus or 1, **settings)
    except ValidationError as exc:
        raise from_validation(exc, f"{where.split(':')[0]}: engine.settings") from None
    except TypeError as exc:  # a setting the grid sets itself (model, threads, quantization, ...)
        raise ConfigError(f"{where.split(':')[0]}: engine.settings: {str(exc).split('() ', 1)[-1]}",
                          "remove it: the study sets it from models, quantizations and hardware") from None


def _check_cpu(hw: HardwareProfile, where: str) -> None:
    cores = os.cpu_count() or 1
    if hw.kind != "cpu":
        raise ConfigError(f"{where} '{hw.name}': llamacpp runs on local CPU profiles", "use kind: cpu with threads")
    if (hw.threads or 1) > cores:
        raise ConfigError(f"{where}.threads: {hw.threads} is more than this host's {cores} CPUs",
                          f"use threads <= {cores}")
    if hw.cpu_set and (max(hw.cpu_set) >= cores or min(hw.cpu_set) < 0):
        raise ConfigError(f"{where}.cpu_set: core {max(hw.cpu_set)} does not exist on this host ({cores} CPUs)",
                          f"use cores 0..{cores - 1}")


def _gpus(hw: HardwareProfile, where: str) -> int | None:
    if hw.kind != "instance":
        return None
    from ..catalog import load_catalog

    count = load_catalog().get(hw.instance_type).gpu_count
    if hw.tp and count and hw.tp > count:
        raise ConfigError(f"{where}.tp: tensor-parallel degree {hw.tp} is larger than {hw.instance_type}'s {count} GPUs",
                          f"use tp <= {count}")
    return count
