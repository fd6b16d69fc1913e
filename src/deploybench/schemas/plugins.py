"""Engine plugin registry: what every engine declares, in one object per engine.

An engine is one module (or package) that defines an :class:`EnginePlugin` and registers it under
the entry-point group ``deploybench.engines`` (deploybench's own engines are registered the same
way, in its ``pyproject.toml``). Everything that used to name engines one by one derives from the
registry: the ``engine`` config union (:data:`deploybench.schemas.EngineConfig`), the study's
``engine.kind`` choices, error hints, plan validation, start-up estimates, cost guards and the
server-metrics scraper. ``docs/adding-an-engine.md`` walks through writing one.

This module lives in ``schemas`` so every layer can read the registry; it never imports an engine
by name — entry points are loaded lazily, on first use. Nothing outside ``engines`` branches on an engine's
kind or reads its config fields by name: it asks the plugin (:meth:`EnginePlugin.serving`,
:meth:`EnginePlugin.calibration_group`, ``prunable``, :meth:`EnginePlugin.model_file`,
:meth:`EnginePlugin.quality_ladder`, :meth:`EnginePlugin.find_leftovers`, ``shortcut``, ``default_rank``);
``tests/unit/test_engine_neutral.py`` checks that over ``src/``.
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
# GridPoint.hardware is a schemas.study.HardwareProfile (named as a string: study sits above this registry)

ENTRY_POINT_GROUP = "deploybench.engines"
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


@dataclass(frozen=True)
class Serving:
    """How one engine config serves, in the engine's own terms translated once, by its plugin
    (:meth:`EnginePlugin.serving`): what the predictor, the run labels and quality read instead of the
    config's field names. ``None``: the config does not say (the reader falls back to the hardware or a default).
    """

    model: str = ""  # the model reference the server loads (GGUF path, bundled name, Hugging Face id)
    tp: int | None = None  # tensor-parallel degree: devices one replica's layers are split over
    pp: int | None = None  # pipeline-parallel degree: stages
    threads: int | None = None  # CPU threads the server computes with
    batch_slots: int | None = None  # requests served at once (slots, max batch / sequences)
    weight_precision: str | None = None  # quantization of the weights (Q8_0, awq, ...); None: as shipped
    kv_precision: str | None = None  # KV-cache type (f16, q8_0, fp8); None: the engine's default
    instance_type: str | None = None  # a catalog instance type the config names itself (a cloud endpoint)

    @property
    def devices(self) -> int | None:
        """Accelerators one replica uses (TP x PP); None when the config sets neither."""
        if self.tp is None and self.pp is None:
            return None
        return (self.tp or 1) * (self.pp or 1)


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
    #: how the server admits requests to its KV cache, for the predictor: "reserve" (a request's whole prompt +
    #: output must fit) or "on-demand" (its prompt; the cache grows, and running requests are preempted when it
    #: runs out); None: predict/scheduling.py's table by kind, else "reserve"
    kv_admission: ClassVar[str | None] = None
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
    #: the registry's default engine (a deployment or study that names none, the CLI's one-server shortcut) is
    #: the installed plugin with the highest rank (ties: the kind that sorts first)
    default_rank: ClassVar[int] = 0
    #: ``run --prune`` may predict its cells and skip those that cannot win a pick (needs a model the predictor
    #: knows and hardware it can price: a remote endpoint's is neither)
    prunable: ClassVar[bool] = True
    #: the CLI's one-server shortcut (``deploybench run --model M --threads N``): ``run`` option -> config field;
    #: {} = none. ``shortcut_key``: the option that picks this engine (None: the default engine takes the shortcut)
    shortcut: ClassVar[dict[str, str]] = {}
    shortcut_key: ClassVar[str | None] = None

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

    def serving(self, cfg: "BaseModel") -> Serving:
        """What ``cfg`` says about how it serves (devices, threads, slots, precisions; :class:`Serving`)."""
        return Serving()

    def calibration_group(self, cfg: "BaseModel") -> str:
        """The predictor's calibration group for this config (cells of one group share fitted factors)."""
        return self.kind

    def model_file(self, cfg: "BaseModel") -> Path | None:
        """The local model file the server will load (generated or requantized as a run would, cached),
        for features read from the file; None: none on this host."""
        return None

    def quality_ladder(self, cfg: "BaseModel") -> tuple[str, str] | None:
        """(model reference, quantization) that the quality ladder (``quality: {method: kld|perplexity}``,
        llama.cpp's ``llama-perplexity``) measures for this config; None: no ladder figure (method
        ``agreement`` compares the outputs of any engine)."""
        return None

    def find_leftovers(self, region: str, study: str | None = None,
                       older_than_hours: float | None = None) -> list[Any] | None:
        """Cloud resources this engine created and a run left behind (each with ``engine`` (this kind),
        ``kind``, ``name``, ``study``, ``created``, ``status``); None: the engine creates none."""
        return None

    def delete_leftovers(self, region: str, leftovers: list[Any],
                         report: Any = None) -> list[tuple[Any, str | None]]:
        """Delete what :meth:`find_leftovers` found; ``report(leftover, error_or_None)`` after each."""
        raise NotImplementedError(f"engine '{self.kind}' creates no cloud resources")


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


def default_kind() -> str:
    """The engine of a deployment or study that names none: the highest :attr:`EnginePlugin.default_rank`."""
    plugins = engine_plugins()
    if not plugins:
        raise ConfigError("engine: no engines are installed", "reinstall deploybench (pip install -e .)")
    return min(plugins.values(), key=lambda p: (-p.default_rank, p.kind)).kind


def stored_config(engine: dict[str, Any] | None) -> "BaseModel | None":
    """A stored engine config (``meta.json``'s ``deployment_config.engine``) validated by its plugin; None when
    its engine is not installed or the config no longer validates (an older store). The ``{kind, settings}``
    shape of a study's ``engine:`` is read as its settings."""
    if not isinstance(engine, dict) or engine.get("kind") not in engine_plugins():
        return None
    flat = {k: v for k, v in engine.items() if k != "settings"} | dict(engine.get("settings") or {})
    try:
        return engine_plugins()[engine["kind"]].config.model_validate(flat)
    except ValueError:
        return None


def serving(cfg: "BaseModel") -> Serving:
    """:meth:`EnginePlugin.serving` of a validated engine config."""
    return engine_plugin(cfg.kind).serving(cfg)


def calibration_group(cfg: "BaseModel") -> str:
    return engine_plugin(cfg.kind).calibration_group(cfg)


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
