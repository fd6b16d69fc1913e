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
    Hardware,
    JsonlWorkload,
    DEFAULT_ROUNDS,
    LoadConfig,
    MultiTurnWorkload,
    ProtocolKind,
    RunConfig,
    SamplesWorkload,
    SharedPrefixWorkload,
    SyntheticWorkload,
    Workload,
    WorkloadSource,
)
from .plugins import ENTRY_POINT_GROUP, EnginePlugin, GridPoint, Serving, engine_plugin, engine_plugins
from .study import EngineGrid, HardwareProfile, ModelEntry, Rule, Study
from .errors import ConfigError, DeploybenchError, EndpointError, EngineError
from .records import EngineInfo, HostInfo, RequestRecord, RunMeta
from .summary import FLAGS, Dist, Interval, RunSummary

__all__ = [
    "ClosedLevel", "Level", "RateLevel", "SweepLevel", "TraceLevel",
    "ConfigError", "Deployment", "DeploybenchError", "Endpoint", "Dist", "EndpointError", "EngineConfig",
    "EngineError", "EngineInfo", "Hardware", "HostInfo", "JsonlWorkload",
    "DEFAULT_ROUNDS", "LoadConfig", "ProtocolKind", "RequestRecord", "RunConfig", "RunMeta",
    "RunSummary", "FLAGS", "Interval", "SamplesWorkload", "SyntheticWorkload",
    "Workload", "WorkloadSource", "EngineGrid", "HardwareProfile", "ModelEntry", "Rule",
    "Study", "MultiTurnWorkload", "SharedPrefixWorkload",
    "ENTRY_POINT_GROUP", "EnginePlugin", "GridPoint", "Serving", "engine_plugin", "engine_plugins",
]
