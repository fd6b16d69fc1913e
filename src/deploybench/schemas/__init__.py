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
from .summary import FLAGS, Dist, Interval, RunSummary

__all__ = [
    "ConfigError", "Deployment", "DeploybenchError", "Endpoint", "Dist", "EndpointError", "EngineConfig",
    "EngineError", "EngineInfo", "ExternalEngine", "Hardware", "HostInfo", "JsonlWorkload",
    "LlamaCppEngine", "LoadConfig", "ProtocolKind", "RequestRecord", "RunConfig", "RunMeta",
    "RunSummary", "FLAGS", "Interval", "SageMakerEngine", "SamplesWorkload", "SyntheticWorkload", "TgiEngine",
    "VllmEngine", "Workload", "WorkloadSource", "EngineGrid", "HardwareProfile", "ModelEntry", "Rule",
    "Study",
]
