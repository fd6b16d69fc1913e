"""Loading the catalog: the bundled ``hardware.yaml`` merged with a user file (entry by entry, prices
region by region), cached by path and modification time; and the lookups a plan makes of it."""

from __future__ import annotations

import functools
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from ..schemas import ConfigError
from ..schemas.validation import from_validation
from .hardware import (BUNDLED, ENV_VAR, Catalog, CpuProfile, GpuSpec, HardwareEntry, _CatalogFile, rate_price)


def _read_yaml(path: Any, label: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"catalog file {label} does not exist", "give the path of a YAML catalog file") from None
    except OSError as exc:
        raise ConfigError(f"catalog file {label} cannot be read ({exc.strerror})", "check the path") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"catalog file {label} is not valid YAML{where}", "fix the YAML syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"catalog file {label} must be a mapping with 'entries:' and/or 'cpu_profiles:'",
                          "see the bundled catalog (deploybench catalog --json) for the shape")
    return data


def _validation_error(label: str, where: str, exc: ValidationError) -> ConfigError:
    return from_validation(exc, f"catalog file {label}", "fix that field (see the bundled hardware.yaml)", root=where)


def _merge_entry(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = {**base, **{k: v for k, v in new.items() if k != "prices"}}
    prices = dict(base.get("prices") or {})
    prices.update(new.get("prices") or {})
    out["prices"] = prices
    return out


def _named(items: list[dict[str, Any]], label: str, section: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"].strip():
            raise ConfigError(f"catalog file {label}: {section}[{i}].name is missing",
                              "give every entry a name, e.g. name: ml.g5.2xlarge")
        out[item["name"].strip()] = item
    return out


def _raw_layers(override: Path | None) -> list[tuple[str, dict[str, Any]]]:
    layers = [(f"(bundled) {BUNDLED}", _read_yaml(resources.files(__package__) / BUNDLED, BUNDLED))]
    user = override if override is not None else (Path(os.environ[ENV_VAR]) if os.environ.get(ENV_VAR) else None)
    if user is not None:
        layers.append((str(user), _read_yaml(Path(user), str(user))))
    return layers


def _build(layers: list[tuple[str, dict[str, Any]]]) -> Catalog:
    gpus: dict[str, GpuSpec] = {}
    entries: dict[str, dict[str, Any]] = {}
    profiles: dict[str, dict[str, Any]] = {}
    date = None
    for label, data in layers:
        try:
            f = _CatalogFile.model_validate(data)
        except ValidationError as exc:
            raise _validation_error(label, "catalog", exc) from None
        date = f.catalog_date or date
        gpus.update(f.gpus)
        lower = {k.lower(): k for k in entries}
        for name, item in _named(f.entries, label, "entries").items():
            old = lower.get(name.lower())
            entries[old or name] = _merge_entry(entries[old], item) if old else item
        lower = {k.lower(): k for k in profiles}
        for name, item in _named(f.cpu_profiles, label, "cpu_profiles").items():
            old = lower.get(name.lower())
            profiles[old or name] = {**profiles[old], **item} if old else item
    cat = Catalog(catalog_date=date, files=[lbl for lbl, _ in layers], gpus=gpus)
    for name, raw in entries.items():
        cat.entries[name] = _entry(raw, gpus, layers[-1][0])
    for name, raw in profiles.items():
        try:
            cat.cpu_profiles[name] = CpuProfile.model_validate(raw)
        except ValidationError as exc:
            raise _validation_error(layers[-1][0], f"cpu_profiles[{name}]", exc) from None
    return cat


def _entry(raw: dict[str, Any], gpus: dict[str, GpuSpec], label: str) -> HardwareEntry:
    try:
        entry = HardwareEntry.model_validate(raw)
    except ValidationError as exc:
        raise _validation_error(label, f"entries[{raw.get('name')}]", exc) from None
    spec = gpus.get(entry.gpu_model or "")
    if spec is not None:
        entry.gpu_memory_gib = entry.gpu_memory_gib or spec.memory_gib
        entry.memory_bandwidth_gbs = entry.memory_bandwidth_gbs or spec.memory_bandwidth_gbs
        entry.interconnect_gbs = entry.interconnect_gbs or spec.interconnect_gbs
    return entry


@functools.lru_cache(maxsize=8)
def _cached(key: tuple[str | None, float | None]) -> Catalog:
    return _build(_raw_layers(Path(key[0]) if key[0] else None))


def load_catalog(override: Path | str | None = None) -> Catalog:
    """The bundled catalog, merged with ``override`` (or the file named by ``DEPLOYBENCH_CATALOG``)."""
    path = override if override is not None else os.environ.get(ENV_VAR) or None
    mtime = None
    if path is not None:
        p = Path(path)
        if not p.exists():
            raise ConfigError(f"catalog file {p} does not exist", "give the path of a YAML catalog file")
        mtime = p.stat().st_mtime
    return _cached((str(path) if path is not None else None, mtime)).model_copy(deep=True)


def gpu_count(name: str, catalog: Catalog | None = None) -> int:
    """GPUs in instance type ``name`` (0 for CPU profiles)."""
    return (catalog or load_catalog()).gpu_count(name)


def check_tp(name: str, tp: int, catalog: Catalog | None = None) -> int:
    """Validate a tensor-parallel degree against the instance's GPU count; returns the count."""
    n = gpu_count(name, catalog)
    if tp < 1:
        raise ConfigError(f"tensor parallel degree {tp} for '{name}' must be >= 1", "use 1 or more")
    if tp > n:
        raise ConfigError(f"tensor parallel degree {tp} exceeds the {n} GPU(s) of '{name}'",
                          f"use a degree of at most {n} or a larger instance type")
    return n


def cpu_profile_price(vcpus: int, rate: float | None = None, profile: str = "local-cpu",
                      catalog: Catalog | None = None) -> float:
    """USD/hour of ``vcpus`` local vCPUs: ``vcpus`` x ``rate`` (default: the profile's catalog rate).

    For the dated :class:`Price` with its source, use ``Catalog.price(profile, vcpus=vcpus)``.
    """
    by_rate = rate_price(vcpus, rate)
    return by_rate if by_rate is not None else (catalog or load_catalog()).cpu_profile(profile).price(vcpus).usd_per_hour
