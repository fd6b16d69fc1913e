"""Shared data models: configuration, raw records, summaries, errors."""

from .config import (
    ClosedLevel,
    Level,
    RateLevel,
    SweepLevel,
    TraceLevel,
    Deployment,
    Endpoint,
    EngineConfig,
    ExternalEngine,
    Hardware,
    JsonlWorkload,
    LlamaCppEngine,
    LoadConfig,
    MultiTurnWorkload,
    ProtocolKind,
    RunConfig,
    SageMakerEngine,
    SamplesWorkload,
    SharedPrefixWorkload,
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
    "ClosedLevel", "Level", "RateLevel", "SweepLevel", "TraceLevel",
    "ConfigError", "Deployment", "DeploybenchError", "Endpoint", "Dist", "EndpointError", "EngineConfig",
    "EngineError", "EngineInfo", "ExternalEngine", "Hardware", "HostInfo", "JsonlWorkload",
    "LlamaCppEngine", "LoadConfig", "ProtocolKind", "RequestRecord", "RunConfig", "RunMeta",
    "RunSummary", "FLAGS", "Interval", "SageMakerEngine", "SamplesWorkload", "SyntheticWorkload", "TgiEngine",
    "VllmEngine", "Workload", "WorkloadSource", "EngineGrid", "HardwareProfile", "ModelEntry", "Rule",
    "Study", "MultiTurnWorkload", "SharedPrefixWorkload",
]
