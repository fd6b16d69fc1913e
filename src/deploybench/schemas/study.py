"""A study: a grid of deployments (model x quantization x hardware x engine settings) x load levels."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from .config import Deployment, LoadConfig, ProtocolKind, Workload, _Strict
from .plugins import default_kind, engine_kinds
from .quality import QualityConfig


class ModelEntry(_Strict):
    name: str = Field(description="label used in tables, e.g. 7B or smollm2-135m")
    source: str = Field(description="GGUF path, bundled name (smollm2, gemma3-270m), random-llama:50M, "
                                    "or a Hugging Face model id for TGI/SageMaker/vLLM")
    quantizations: list[str] | None = Field(None, description="overrides the study's quantizations for this model")


class HardwareProfile(_Strict):
    """A local CPU profile (threads, pinned cores) or a cloud instance type from the catalog."""

    name: str
    kind: Literal["cpu", "instance"] = "cpu"
    threads: int | None = Field(None, ge=1)
    cpu_set: list[int] | None = None
    instance_type: str | None = None
    region: str = "us-east-1"
    tp: int | None = Field(None, ge=1, description="tensor-parallel degree (GPUs used)")
    price_per_hour: float | None = Field(None, ge=0)
    price_per_vcpu_hour: float | Literal["catalog"] | None = None

    @model_validator(mode="after")
    def _shape(self) -> "HardwareProfile":
        if self.kind == "instance" and not self.instance_type:
            self.instance_type = self.name
        if self.kind == "cpu" and self.threads is None:
            self.threads = len(self.cpu_set) if self.cpu_set else 1
        return self


class EngineGrid(_Strict):
    """Engine kind (any installed engine plugin) and its settings; a list value is a grid dimension."""

    kind: str = Field(default_factory=default_kind, description="an installed engine (default: the registry's)")
    settings: dict[str, Any | list[Any]] = Field(default_factory=dict)

    @field_validator("kind")
    @classmethod
    def _installed(cls, v: str) -> str:
        kinds = engine_kinds()
        if v not in kinds:
            raise ValueError(f"'{v}' is not an installed engine; use one of: {', '.join(kinds)}")
        return v


class Rule(_Strict):
    """Matches deployments by label; every given key must match (value or list of values)."""

    model: str | list[str] | None = None
    quantization: str | list[str] | None = None
    hardware: str | list[str] | None = None
    settings: dict[str, Any] | None = None

    def matches(self, labels: dict[str, str], settings: dict[str, Any]) -> bool:
        for key in ("model", "quantization", "hardware"):
            want = getattr(self, key)
            if want is not None and labels.get(key) not in ([want] if isinstance(want, str) else want):
                return False
        if self.settings:
            return all(settings.get(k) == v for k, v in self.settings.items())
        return True


class PruneConfig(_Strict):
    """``run --prune``: predict every cell, measure only the cells that can matter for a pick (docs/predict.md)."""

    margin: float = Field(0.25, ge=0, le=10, description="measure cells predicted within this fraction of the best "
                                                         "of some model's cost, latency or throughput pick")
    calibration: int = Field(2, ge=0, le=20, description="cells measured first, spread over the predicted range, "
                                                         "to calibrate the model")


class Study(_Strict):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # engine configs come from the registry

    name: str
    description: str = ""
    models: list[ModelEntry] = Field(default_factory=list)
    quantizations: list[str] = Field(default_factory=lambda: ["native"])
    hardware: list[HardwareProfile] = Field(default_factory=list)
    engine: EngineGrid = Field(default_factory=EngineGrid)
    protocol: ProtocolKind = "openai-chat"
    deployments: list[Deployment] = Field(default_factory=list, description="extra explicit deployments")
    include: list[Rule] = Field(default_factory=list, description="keep only grid points matching one rule")
    exclude: list[Rule] = Field(default_factory=list, description="drop grid points matching any rule")
    workload: Workload = Field(default_factory=Workload)
    load: LoadConfig = Field(default_factory=LoadConfig)
    max_cost: float = Field(5.0, ge=0, description="refuse a study whose estimated cloud cost is above this ($)")
    quality: QualityConfig | None = Field(None, description="measure output quality: {method: kld|perplexity|agreement}")
    prune: PruneConfig | None = Field(None, description="predict every cell, measure only those that can matter "
                                                      "(same as --prune)")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        bad = set(v) & set('/\\:*?"<>| ')
        if not v or bad:
            raise ValueError("use letters, digits, '-', '_' or '.' (it names a folder)")
        return v

    @model_validator(mode="after")
    def _nonempty(self) -> "Study":
        if not self.deployments and not (self.models and self.hardware):
            raise ValueError("a study needs models and hardware (a grid) or a deployments list")
        return self
