"""Hardware and price catalog: a bundled, dated YAML file that a user file can override.

Each price keeps the date it was read and its source beside it (:class:`Price`); derived
figures are flagged ``estimate``. The bundled file is ``catalog/hardware.yaml``; a user file
(``load_catalog(path)``, ``--catalog`` or ``DEPLOYBENCH_CATALOG``) has the same shape and is
merged by entry name: known fields are replaced, ``prices`` are merged region by region, new
names are added.

Local CPU profiles (``local-cpu``) are priced per vCPU-hour: price = vCPUs x rate.

GPU figures (``gpus:``, :class:`GpuSpec`) are per device and dense: where a vendor sheet prints 2:4
sparse peaks, they are kept as printed in ``sparse_tflops`` and halved in ``peak_tflops`` (the loader
checks the halving). Every GPU names its source and date, or says ``recalled: true`` (written from
memory of the sheet, not checked against it); ``figures:`` can give one figure its own provenance.
Peaks never fall with precision: fp8 >= fp16/bf16 and fp4 >= fp8 where both are given.

Open-model architectures (``models.yaml``) load with :func:`load_architectures` /
:func:`architecture` (module :mod:`.models`).
"""

from __future__ import annotations

import difflib
import functools
import os
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..schemas import ConfigError
from ..schemas.validation import from_validation
from .models import ModelArchitecture, architecture, from_hf_config, load_architectures

__all__ = ["Catalog", "CpuProfile", "FigureSource", "GpuSpec", "HardwareEntry", "Price", "DEFAULT_REGION", "ENV_VAR",
           "AWS_REGIONS", "PRECISION_ORDER", "ModelArchitecture", "architecture", "check_tp", "cpu_profile_price",
           "from_hf_config", "gpu_count", "load_architectures", "load_catalog"]

DEFAULT_REGION = "us-east-1"
ENV_VAR = "DEPLOYBENCH_CATALOG"
BUNDLED = "hardware.yaml"
AWS_REGIONS = ("us-east-1", "us-west-2", "eu-west-1")  # every AWS entry is priced in these three
# Peaks by precision, widest first: a narrower format's dense peak is never below a wider one's.
PRECISION_ORDER = ("fp32", "tf32", "fp16", "fp8", "fp4")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Price(_Model):
    """A dated price: USD per hour, when it was read and where from."""

    usd_per_hour: float = Field(ge=0)
    as_of: str
    source: str
    estimate: bool = False
    recalled: bool = Field(False, description="written from memory of the price list, not read off it")
    region: str | None = None


class FigureSource(_Model):
    """Where one figure of a GPU comes from, when it differs from the GPU's own ``source``."""

    source: str | None = None
    as_of: str | None = None
    recalled: bool = False

    @model_validator(mode="after")
    def _sourced(self) -> FigureSource:
        if not self.recalled and not (self.source and self.as_of):
            raise ValueError("a figure needs source and as_of, or recalled: true")
        return self


def _close(a: float, b: float, rel: float = 0.01) -> bool:
    return abs(a - b) <= rel * max(abs(a), abs(b))


class GpuSpec(_Model):
    """One accelerator (per device): memory, bandwidth, dense peaks by dtype, link, provenance."""

    vendor: str | None = Field(None, description="nvidia, amd, intel, aws, google")
    form_factor: str | None = Field(None, description="sxm, pcie, oam, superchip, chip, ...")
    memory_gib: float = Field(gt=0, description="per GPU, as marketed (GB on the sheet)")
    memory_type: str | None = None
    memory_bandwidth_gbs: float = Field(gt=0, description="per GPU, GB/s")
    peak_tflops: dict[str, float] = Field(default_factory=dict,
                                          description="dense peak per GPU by dtype (fp16, bf16, fp8, fp4, int8, ...)")
    sparse_tflops: dict[str, float] = Field(default_factory=dict,
                                            description="2:4 sparse peaks as the sheet prints them; "
                                                        "peak_tflops holds half of each")
    interconnect: str | None = Field(None, description="GPU-to-GPU link, e.g. pcie4, nvlink3")
    interconnect_gbs: float | None = Field(None, gt=0, description="per GPU, per direction, GB/s")
    as_of: str | None = None
    source: str | None = None
    recalled: bool = Field(False, description="figures from memory of the spec sheet, not checked against it")
    figures: dict[str, FigureSource] = Field(default_factory=dict,
                                             description="per-figure provenance (field name, or peak_tflops.<dtype>) "
                                                         "where it differs from the GPU's own")
    note: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> GpuSpec:
        if not self.recalled and not (self.source and self.as_of):
            raise ValueError("give source and as_of for this GPU's figures, or recalled: true")
        for dtype, sparse in self.sparse_tflops.items():
            dense = self.peak_tflops.get(dtype)
            if dense is None or not _close(dense * 2, sparse):
                raise ValueError(f"sparse_tflops.{dtype} = {sparse:g} but peak_tflops.{dtype} = {dense}: "
                                 f"the dense peak is half the 2:4 sparse figure ({sparse / 2:g})")
        p = self.peak_tflops
        if "fp16" in p and "bf16" in p and not _close(p["fp16"], p["bf16"]):
            raise ValueError(f"peak_tflops: fp16 {p['fp16']:g} and bf16 {p['bf16']:g} differ")
        given = [(d, self.peak(d)) for d in PRECISION_ORDER if self.peak(d) is not None]
        for (wide, a), (narrow, b) in zip(given, given[1:]):
            if b < a * 0.99:
                raise ValueError(f"peak_tflops.{narrow} ({b:g}) is below peak_tflops.{wide} ({a:g}): "
                                 f"a narrower format never has a lower dense peak (a sparse figure not halved?)")
        return self

    def peak(self, dtype: str) -> float | None:
        """Dense peak TFLOP/s for ``dtype``; fp16 and bf16 stand in for each other. None if not given."""
        d = dtype.strip().lower()
        alias = {"fp16": "bf16", "bf16": "fp16"}.get(d)
        return self.peak_tflops.get(d) or (self.peak_tflops.get(alias) if alias else None)

    def provenance(self, figure: str) -> FigureSource:
        """Source, date and recalled flag of one figure (``memory_bandwidth_gbs``, ``peak_tflops.fp8``, ...)."""
        return self.figures.get(figure) or FigureSource(source=self.source, as_of=self.as_of,
                                                        recalled=self.recalled or not (self.source and self.as_of))


class HardwareEntry(_Model):
    """One instance type (SageMaker ``ml.*`` or EC2) with its GPUs and its prices per region."""

    name: str
    platform: Literal["sagemaker", "ec2", "gcp", "azure", "local", "other"] = "other"
    family: str = ""
    gpu_model: str | None = None
    gpu_count: int = Field(0, ge=0)
    gpu_memory_gib: float | None = Field(None, gt=0, description="per GPU (default: from the gpus table)")
    memory_bandwidth_gbs: float | None = Field(None, gt=0, description="per GPU (default: from the gpus table)")
    interconnect_gbs: float | None = Field(None, gt=0, description="GPU-to-GPU, per GPU per direction, on this "
                                           "instance's topology (default: from the gpus table)")
    vcpus: int | None = Field(None, ge=1)
    memory_gib: float | None = Field(None, gt=0)
    prices: dict[str, Price] = Field(default_factory=dict)
    description: str = ""

    @property
    def total_gpu_memory_gib(self) -> float | None:
        return None if self.gpu_memory_gib is None else self.gpu_memory_gib * self.gpu_count


class CpuProfile(_Model):
    """Local CPUs priced per vCPU-hour (what the same vCPUs cost rented on demand)."""

    name: str
    usd_per_vcpu_hour: float = Field(ge=0)
    as_of: str
    source: str
    estimate: bool = False
    description: str = ""
    vcpus: int | None = Field(None, ge=1, description="default vCPU count (default: this machine's)")

    def price(self, vcpus: int | None = None) -> Price:
        n = vcpus or self.vcpus or os.cpu_count() or 1
        if n < 1:
            raise ConfigError(f"vcpus: {n} is not a CPU count", "give a whole number >= 1")
        return Price(usd_per_hour=n * self.usd_per_vcpu_hour, as_of=self.as_of, estimate=self.estimate,
                     source=f"{n} vCPU x ${self.usd_per_vcpu_hour:g}/vCPU-hour ({self.source})")


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="ignore")  # `sources:` holds YAML anchors only

    catalog_date: str | None = None
    gpus: dict[str, GpuSpec] = Field(default_factory=dict)
    entries: list[dict[str, Any]] = Field(default_factory=list)
    cpu_profiles: list[dict[str, Any]] = Field(default_factory=list)


class Catalog(BaseModel):
    """Hardware entries and CPU profiles by name (names are matched case-insensitively)."""

    catalog_date: str | None = None
    files: list[str] = Field(default_factory=list, description="catalog files merged, bundled first")
    gpus: dict[str, GpuSpec] = Field(default_factory=dict)
    entries: dict[str, HardwareEntry] = Field(default_factory=dict)
    cpu_profiles: dict[str, CpuProfile] = Field(default_factory=dict)

    def names(self) -> list[str]:
        return sorted([*self.entries, *self.cpu_profiles])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._key(name) is not None

    def _key(self, name: str) -> str | None:
        low = name.strip().lower()
        return next((k for k in [*self.entries, *self.cpu_profiles] if k.lower() == low), None)

    def _unknown(self, name: str) -> ConfigError:
        by_lower = {n.lower(): n for n in self.names()}
        close = [by_lower[c] for c in difflib.get_close_matches(name.strip().lower(), list(by_lower), n=3, cutoff=0.6)]
        hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
        return ConfigError(f"unknown instance type '{name}'",
                           f"{hint}use one of: {', '.join(self.names())} or add it to a catalog file "
                           f"(--catalog FILE or {ENV_VAR})")

    def get(self, name: str) -> HardwareEntry:
        """The entry called ``name``; a CPU profile comes back as a GPU-less ``local`` entry."""
        key = self._key(name)
        if key is None:
            raise self._unknown(name)
        if key in self.entries:
            return self.entries[key]
        prof = self.cpu_profiles[key]
        return HardwareEntry(name=prof.name, platform="local", family="cpu", gpu_count=0, vcpus=prof.vcpus,
                             description=prof.description)

    def cpu_profile(self, name: str = "local-cpu") -> CpuProfile:
        key = self._key(name)
        if key is None or key not in self.cpu_profiles:
            raise ConfigError(f"unknown CPU profile '{name}'",
                              f"use one of: {', '.join(sorted(self.cpu_profiles))} or add it to a catalog file")
        return self.cpu_profiles[key]

    def price(self, name: str, region: str | None = None, vcpus: int | None = None) -> Price:
        """On-demand price of ``name`` in ``region`` (CPU profiles: ``vcpus`` x rate, any region)."""
        key = self._key(name)
        if key is None:
            raise self._unknown(name)
        if key in self.cpu_profiles:
            return self.cpu_profiles[key].price(vcpus)
        entry = self.entries[key]
        region = region or DEFAULT_REGION
        if region not in entry.prices:
            have = ", ".join(sorted(entry.prices)) or "none"
            raise ConfigError(f"no price for '{entry.name}' in region '{region}'",
                              f"use one of: {have}, or add prices.{region} for it to a catalog file")
        return entry.prices[region].model_copy(update={"region": region})

    def gpu_count(self, name: str) -> int:
        return self.get(name).gpu_count

    def cpu_profile_price(self, vcpus: int, rate: float | None = None, profile: str = "local-cpu") -> float:
        """USD/hour of ``vcpus`` local vCPUs (see the module-level :func:`cpu_profile_price`)."""
        return cpu_profile_price(vcpus, rate, profile, catalog=self)

    def regions(self) -> list[str]:
        return sorted({r for e in self.entries.values() for r in e.prices})


# --------------------------------------------------------------------------- loading


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
    layers = [(f"(bundled) {BUNDLED}", _read_yaml(resources.files(__name__) / BUNDLED, BUNDLED))]
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
    if isinstance(vcpus, bool) or not isinstance(vcpus, int) or vcpus < 1:
        raise ConfigError(f"vcpus: {vcpus!r} is not a CPU count", "give a whole number >= 1")
    if rate is not None:
        if rate < 0:
            raise ConfigError(f"rate: {rate} $/vCPU-hour is negative", "give a rate >= 0")
        return vcpus * rate
    return (catalog or load_catalog()).cpu_profile(profile).price(vcpus).usd_per_hour
