"""Engine plugin registry: what every engine declares, in one object per engine.

An engine is one module (or package) that defines an :class:`EnginePlugin` and registers it under
the entry-point group ``deploybench.engines`` (deploybench's own engines are registered the same
way, in its ``pyproject.toml``). Everything that used to name engines one by one derives from the
registry: the ``engine`` config union (:data:`deploybench.schemas.EngineConfig`), the study's
``engine.kind`` choices, error hints, plan validation, start-up estimates, cost guards and the
server-metrics scraper. ``docs/adding-an-engine.md`` walks through writing one.

This module lives in ``schemas`` so every layer can read the registry; it never imports an engine
by name — entry points are loaded lazily, on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import ConfigError

if TYPE_CHECKING:
    from pydantic import BaseModel

    from .study import HardwareProfile

ENTRY_POINT_GROUP = "deploybench.engines"
DEFAULT_KIND = "llamacpp"  # a deployment that names no engine
OPENAI_PROTOCOLS = ("openai-chat", "openai-completions")


@dataclass(frozen=True)
class GridPoint:
    """One point of a study grid, handed to :meth:`EnginePlugin.configure`.

    ``gpus`` is the instance type's GPU count from the catalog (``None`` for CPU profiles); the
    plan has already checked ``hardware.tp`` against it (``catalog.check_tp``).
    """

    source: str
    quantization: str | None  # None: as shipped ("native")
    hardware: "HardwareProfile"
    settings: dict[str, Any] = field(default_factory=dict)
    gpus: int | None = None
    where: str = "study"


class EnginePlugin:
    """Everything deploybench needs to know about one engine. Subclass it and override.

    ``kind`` and ``config`` (a pydantic model with ``kind: Literal[<kind>]``) are required;
    the rest have defaults that fit an OpenAI-compatible server on the local CPU.
    """

    kind: ClassVar[str]
    config: ClassVar[type["BaseModel"]]
    #: protocols the engine's server speaks; the first is the default for a study
    protocols: ClassVar[tuple[str, ...]] = OPENAI_PROTOCOLS
    #: hardware profile kinds a study grid may put it on ("cpu", "instance"); () = none (no grid)
    hardware_kinds: ClassVar[tuple[str, ...]] = ("cpu",)
    #: seconds from start() to ready, for estimates (plan, capacity)
    startup_s: ClassVar[float] = 5.0
    #: billed per hour while up (a cloud endpoint): counts toward the study's max_cost
    cloud: ClassVar[bool] = False
    #: Prometheus series prefixes the scraper keeps (e.g. "vllm:")
    metric_prefixes: ClassVar[tuple[str, ...]] = ()
    #: readable server-side figure -> candidate series, e.g. {"requests_waiting": ("vllm:num_requests_waiting",)}
    server_gauges: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: counters of generated tokens (a rate over the window)
    token_counters: ClassVar[tuple[str, ...]] = ()
    #: quantization names a study may list ("native": as shipped); None: any, the engine checks
    quantizations: ClassVar[tuple[str, ...] | None] = None

    def server(self, cfg: "BaseModel", log_dir: Path, **context: Any) -> Any:
        """The engine object (``start() -> Endpoint``, ``stop()``, ``info()``). ``context``:
        ``price_per_hour`` of the deployment's hardware, when known."""
        raise NotImplementedError

    def configure(self, point: GridPoint) -> "BaseModel":
        """The engine config for one grid point (check the model and hardware here)."""
        raise ConfigError(f"{point.where}: engine '{self.kind}' cannot be used in a study grid",
                          "list it under deployments: with a full engine config")

    def check_model(self, source: str, where: str) -> None:
        """Fail early (ConfigError) for a model reference this engine cannot resolve."""

    def check_quantization(self, quant: str, where: str) -> None:
        if self.quantizations is not None and quant not in self.quantizations:
            raise ConfigError(f"{where}: unknown quantization '{quant}' for engine '{self.kind}'",
                              f"use one of: {', '.join(sorted(self.quantizations))}")

    def needs(self, cfg: "BaseModel") -> list[Any]:
        """Packages this config needs on this machine and it lacks, as ``engines.needs.Need``
        objects (checked with every other deployment's before anything starts; one install line)."""
        return []

    def budget(self, cfg: "BaseModel") -> tuple[float, float] | None:
        """(expected hours, max USD) when the config sets its own cost limit; None otherwise."""
        return None


_registry: dict[str, EnginePlugin] = {}
_loaded = False


def register(plugin: EnginePlugin | type[EnginePlugin]) -> EnginePlugin:
    """Add an engine (entry points do this; call it directly only before the first validation)."""
    obj = plugin() if isinstance(plugin, type) else plugin
    for attr in ("kind", "config"):
        if not hasattr(obj, attr):
            raise TypeError(f"engine plugin {type(obj).__name__} has no {attr}")
    _registry[obj.kind] = obj
    return obj


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _registry:
            continue
        try:
            register(ep.load())
        except Exception as exc:  # noqa: BLE001 (a broken third-party plugin must name itself)
            if os.environ.get("DEPLOYBENCH_PLUGIN_ERRORS") == "raise":
                raise
            _broken[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"[:300]


_broken: dict[str, str] = {}


def engine_plugins() -> dict[str, EnginePlugin]:
    """Every registered engine by kind (entry points loaded on first call)."""
    _load()
    return dict(_registry)


def engine_plugin(kind: str, where: str = "engine.kind") -> EnginePlugin:
    plugins = engine_plugins()
    if kind in plugins:
        return plugins[kind]
    if kind in _broken:
        raise ConfigError(f"{where}: engine plugin '{kind}' failed to load ({_broken[kind]})",
                          "fix or reinstall the package that provides it")
    raise ConfigError(f"{where}: '{kind}' is not an installed engine",
                      f"use one of: {', '.join(sorted(plugins)) or 'none (reinstall deploybench: pip install -e .)'}")


def engine_kinds() -> list[str]:
    return sorted(engine_plugins())


def server_series() -> tuple[dict[str, tuple[str, ...]], tuple[str, ...], tuple[str, ...]]:
    """(readable gauge -> candidate series, token counters, series prefixes) over all engines."""
    gauges: dict[str, tuple[str, ...]] = {}
    counters: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    for p in engine_plugins().values():
        for name, series in p.server_gauges.items():
            gauges[name] = gauges.get(name, ()) + tuple(series)
        counters += tuple(p.token_counters)
        prefixes += tuple(p.metric_prefixes)
    return gauges, counters, prefixes


def create_server(cfg: "BaseModel", log_dir: Path, **context: Any) -> Any:
    """The engine object for a validated engine config."""
    return engine_plugin(cfg.kind).server(cfg, log_dir, **context)




def check_budget(estimate_usd: float | None, max_usd: float | None, what: str, fix: str) -> float | None:
    """The one cost guard: ConfigError when ``estimate_usd`` (None: no price known) exceeds ``max_usd``."""
    if max_usd is None:
        return estimate_usd
    if estimate_usd is None:
        raise ConfigError(f"{what}: no price known", "give hardware.price_per_hour (or a catalog instance type), "
                          "or remove the cost limit")
    if estimate_usd > max_usd:
        raise ConfigError(f"estimated cost ${estimate_usd:.2f} ({what}) exceeds max_cost ${max_usd:.2f}", fix)
    return estimate_usd
