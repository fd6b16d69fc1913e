"""Shared data models: configuration, raw records, summaries, errors."""

from .config import (
    Deployment,
    Endpoint,
    EngineConfig,
    ExternalEngine,
    Hardware,
    JsonlWorkload,
    LlamaCppEngine,
    LoadConfig,
    ProtocolKind,
    RunConfig,
    SageMakerEngine,
    SamplesWorkload,
    SyntheticWorkload,
    TgiEngine,
    VllmEngine,
    Workload,
    WorkloadSource,
)
from .study import EngineGrid, HardwareProfile, ModelEntry, Rule, Study
from .errors import ConfigError, DeploybenchError, EndpointError, EngineError
from .records import EngineInfo, HostInfo, RequestRecord, RunMeta
from .summary import Dist, RunSummary

__all__ = [
    "ConfigError", "Deployment", "DeploybenchError", "Endpoint", "Dist", "EndpointError", "EngineConfig",
    "EngineError", "EngineInfo", "ExternalEngine", "Hardware", "HostInfo", "JsonlWorkload",
    "LlamaCppEngine", "LoadConfig", "ProtocolKind", "RequestRecord", "RunConfig", "RunMeta",
    "RunSummary", "SageMakerEngine", "SamplesWorkload", "SyntheticWorkload", "TgiEngine",
    "VllmEngine", "Workload", "WorkloadSource", "EngineGrid", "HardwareProfile", "ModelEntry", "Rule",
    "Study",
]
