"""Study file -> validated grid of deployments. Every error names the file, the field and the fix."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..catalog import check_tp, load_catalog
from ..schemas.validation import from_validation
from ..schemas import ConfigError, Deployment, GridPoint, Hardware, HardwareProfile, Study, engine_plugin


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
    plugin = engine_plugin(study.engine.kind, f"{where}: engine.kind")
    for mi, model in enumerate(study.models):
        plugin.check_model(model.source, f"{where}: models[{mi}].source")
        for quant in model.quantizations or study.quantizations:
            plugin.check_quantization(quant, f"{where}: quantizations")
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


def _protocol(study: Study) -> str:
    """The study's protocol, or the engine's default when the engine does not speak it (TGI, SageMaker)."""
    allowed = engine_plugin(study.engine.kind).protocols
    if study.protocol not in allowed:
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


def price_of(hw: HardwareProfile, where: str) -> float:
    if hw.price_per_hour is not None:
        return hw.price_per_hour
    if hw.kind == "instance":
        return load_catalog().price(hw.instance_type, hw.region).usd_per_hour
    if hw.price_per_vcpu_hour == "catalog":
        return load_catalog().cpu_profile_price(hw.threads or 1)
    if isinstance(hw.price_per_vcpu_hour, (int, float)):
        return float(hw.price_per_vcpu_hour) * (hw.threads or 1)
    raise ConfigError(f"{where} '{hw.name}': no price",
                      "set price_per_hour, or price_per_vcpu_hour: catalog (or a number)")


def _engine(study: Study, source: str, quant: str, hw: HardwareProfile, settings: dict, where: str):
    """The engine config for one grid point, from the engine's plugin (hardware checked first)."""
    plugin = engine_plugin(study.engine.kind)
    if hw.kind not in plugin.hardware_kinds:
        kinds = " or ".join(f"kind: {k}" for k in plugin.hardware_kinds) or "an explicit deployments: entry"
        raise ConfigError(f"{where} '{hw.name}': engine '{plugin.kind}' does not run on {hw.kind} profiles",
                          f"use {kinds}")
    point = GridPoint(source=source, quantization=None if quant == "native" else quant, hardware=hw,
                      settings=settings, gpus=_gpus(hw, where), where=where)
    try:
        return plugin.configure(point)
    except ValidationError as exc:
        raise from_validation(exc, f"{where.split(':')[0]}: engine.settings") from None
    except TypeError as exc:  # a setting the grid sets itself (model, threads, quantization, ...)
        raise ConfigError(f"{where.split(':')[0]}: engine.settings: {str(exc).split('() ', 1)[-1]}",
                          "remove it: the study sets it from models, quantizations and hardware") from None


def _gpus(hw: HardwareProfile, where: str) -> int | None:
    """The instance type's GPU count (catalog), with hardware.tp checked against it; None for CPU profiles."""
    if hw.kind != "instance":
        return None
    if hw.tp is None:
        return load_catalog().get(hw.instance_type).gpu_count
    try:
        return check_tp(hw.instance_type, hw.tp)
    except ConfigError as exc:
        raise ConfigError(f"{where}.tp: {exc.problem}", exc.fix) from None
