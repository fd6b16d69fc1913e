"""The hardware catalog's models: dated prices, GPU figures with their sources, instance types and CPU
profiles, and the merged :class:`Catalog` (see the package's docstring for the rules they check)."""

from __future__ import annotations

import difflib
import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..schemas import ConfigError

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
        by_rate = rate_price(vcpus, rate)
        return by_rate if by_rate is not None else self.cpu_profile(profile).price(vcpus).usd_per_hour

    def regions(self) -> list[str]:
        return sorted({r for e in self.entries.values() for r in e.prices})


def rate_price(vcpus: int, rate: float | None) -> float | None:
    """``vcpus`` x ``rate`` (None: no rate given), after checking both."""
    if isinstance(vcpus, bool) or not isinstance(vcpus, int) or vcpus < 1:
        raise ConfigError(f"vcpus: {vcpus!r} is not a CPU count", "give a whole number >= 1")
    if rate is not None:
        if rate < 0:
            raise ConfigError(f"rate: {rate} $/vCPU-hour is negative", "give a rate >= 0")
        return vcpus * rate
    return None
