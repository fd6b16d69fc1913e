"""Configuration models shared by the CLI, study YAML files and the Python API.

Every extension point is a ``kind``-tagged pydantic model, so a study file, a CLI flag and a
library call validate into the same object.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import (AliasChoices, BaseModel, ConfigDict, Field, GetCoreSchemaHandler, ValidationInfo, field_validator,
                      model_validator)
from pydantic_core import core_schema

from .errors import ConfigError
from .plugins import default_kind, engine_plugin, engine_plugins

ProtocolKind = Literal["openai-chat", "openai-completions", "tgi", "sagemaker-tgi"]


DEFAULT_ROUNDS = 3
"""Rounds per cell when a study does not say (docs/metrics.md, "Rounds": why 3)."""
DEFAULT_WINDOW_S = (4.0, 20.0)
"""A level with neither duration_s nor requests runs an adaptive window of this many seconds (min, max):
until its intervals meet target_half_width, or flagged imprecise at the max (never a bare 20 requests)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- engines
# Engine configs live in their engine's module (deploybench.engines.<kind>, or a third-party plugin);
# the union is built from the plugin registry when a model holding it is first validated.


class _EngineConfigUnion:
    """``kind``-tagged union of every registered engine's config model (see ``schemas.plugins``)."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        models = [p.config for _, p in sorted(engine_plugins().items())]
        if not models:
            raise ConfigError("engine: no engines are installed", "reinstall deploybench (pip install -e .)")
        union = models[0] if len(models) == 1 else Annotated[Union[tuple(models)], Field(discriminator="kind")]
        return handler.generate_schema(union)


EngineConfig = Annotated[Any, _EngineConfigUnion]


def default_engine() -> BaseModel:
    """The engine of a deployment that names none: the registry's default kind, all defaults."""
    return engine_plugin(default_kind()).config()


# --------------------------------------------------------------------------- workloads


class SyntheticWorkload(_Strict):
    """Prompts cut from a bundled public-domain corpus to a chosen input-length distribution."""

    kind: Literal["synthetic"] = "synthetic"
    input_tokens: int = Field(128, ge=1, description="mean prompt length (approximate tokens)")
    input_tokens_stdev: float = Field(0.0, ge=0)
    input_tokens_min: int = Field(1, ge=1)
    input_tokens_max: int = Field(4096, ge=1)
    distribution: Literal["fixed", "uniform", "normal", "lognormal"] = "fixed"
    seed: int = 0
    prompts: int = Field(2000, ge=1, description="distinct prompts (a server should not see one twice: prompt caches)")


class JsonlWorkload(_Strict):
    """A user's prompts, one JSON object per line with a ``prompt`` (or ``messages``) field."""

    kind: Literal["jsonl"] = "jsonl"
    path: Path
    field: str = "prompt"


class SamplesWorkload(_Strict):
    """The 2023 study's ``samples.json`` (``[prompt, prompt_tokens, answer_tokens]`` entries)."""

    kind: Literal["samples"] = "samples"
    path: Path
    max_input_tokens: int | None = None
    output_lengths: bool = Field(False, description="ask each request for its entry's answer_tokens "
                                 "(the 2023 answer length) instead of workload.max_tokens")


class MultiTurnWorkload(_Strict):
    """Chat sessions: turn t sends the t earlier exchanges (user + synthetic assistant text) and a new user turn."""

    kind: Literal["multi-turn"] = "multi-turn"
    sessions: int = Field(16, ge=1, description="conversations; each stays on one closed-loop user")
    turns: int = Field(4, ge=1, description="user turns per session")
    think_s: float = Field(0.0, ge=0, description="the user's pause before each turn after the first (s)")
    user_tokens: int = Field(64, ge=1, description="new user text per turn (approximate tokens)")
    answer_tokens: int = Field(64, ge=1, description="each assistant turn in the history: synthetic text "
                               "this long (real answers are not fed back)")
    seed: int = 0


class SharedPrefixWorkload(_Strict):
    """K system prompts shared by M prompts each, every prompt with its own question: what a prefix cache is worth."""

    kind: Literal["shared-prefix"] = "shared-prefix"
    prefixes: int = Field(4, ge=1, description="distinct system prompts (K)")
    users_per_prefix: int = Field(8, ge=1, description="prompts sharing each system prompt (M)")
    prefix_tokens: int = Field(1024, ge=1, description="system prompt length (approximate tokens)")
    suffix_tokens: int = Field(32, ge=1, description="each prompt's own question (approximate tokens)")
    unique_prefixes: bool = Field(False, description="give every prompt a prefix of its own, same lengths "
                                  "(the A/B baseline: no prefix shared)")
    seed: int = 0


WorkloadSource = Annotated[
    Union[SyntheticWorkload, JsonlWorkload, SamplesWorkload, MultiTurnWorkload, SharedPrefixWorkload],
    Field(discriminator="kind"),
]


class Workload(_Strict):
    source: WorkloadSource = Field(default_factory=SyntheticWorkload)
    max_tokens: int = Field(50, ge=1, description="output tokens per request (2023 study: 50)")
    ignore_eos: bool = Field(True, description="generate exactly max_tokens where the engine allows it")
    temperature: float = Field(0.0, ge=0)


# --------------------------------------------------------------------------- load


class ClosedLevel(_Strict):
    """N closed-loop users, no think time (k6 ``constant-vus``)."""

    kind: Literal["closed"] = "closed"
    users: int = Field(ge=1)

    @property
    def key(self) -> str:
        return f"c{self.users}"


class RateLevel(_Strict):
    """Open loop at ``rps`` requests/s; arrival times computed ahead from ``seed`` (reproducible, stored)."""

    kind: Literal["rate"] = "rate"
    rps: float = Field(gt=0, description="offered requests per second")
    arrival: Literal["constant", "poisson", "gamma"] = "poisson"
    cv: float = Field(1.0, gt=0, description="gamma only: coefficient of variation of inter-arrival times (burstiness)")
    max_in_flight: int | None = Field(None, ge=1, description="arrivals beyond this many requests in flight are "
                                      "dropped (stored as errors 'dropped')")
    seed: int = 0

    @property
    def key(self) -> str:
        shape = f"gamma{self.cv:g}" if self.arrival == "gamma" else self.arrival
        return f"r{self.rps:g}-{shape}"


class TraceLevel(_Strict):
    """Replay a trace's arrival times and per-request input/output lengths (``time_scale`` stretches time)."""

    kind: Literal["trace"] = "trace"
    path: Path
    shape: Literal["jsonl", "burstgpt", "azure", "mooncake"] | None = Field(None, description="column mapping; "
                                                                              "default: from the file")
    time_scale: float = Field(1.0, gt=0, description="multiply the trace's inter-arrival times by this")
    name: str | None = None

    @property
    def key(self) -> str:
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", self.name or self.path.stem)
        return f"trace-{name}" + (f"-x{self.time_scale:g}" if self.time_scale != 1 else "")


class SweepLevel(_Strict):
    """Synchronous rate (1 user), max throughput (``max_users``), then ``rates`` open-loop rates between."""

    kind: Literal["sweep"] = "sweep"
    rates: int = Field(8, ge=2, le=50, description="open-loop rates measured between the two")
    arrival: Literal["constant", "poisson", "gamma"] = "poisson"
    cv: float = Field(1.0, gt=0)
    max_users: int = Field(16, ge=2, description="closed-loop users that measure the max throughput")
    headroom: float = Field(1.0, gt=0, le=4, description="highest rate = this x the max throughput")

    @property
    def key(self) -> str:
        return "sweep"


Level = Annotated[Union[ClosedLevel, RateLevel, TraceLevel, SweepLevel], Field(discriminator="kind")]


class LoadConfig(_Strict):
    """Load levels (closed users, open-loop rates, sweeps, trace replay), bounded by time and/or requests."""

    levels: list[Level] = Field(default_factory=list, description="kind-tagged levels: closed, rate, trace, sweep")
    concurrency: list[int] | None = Field(None, description="shorthand for closed levels (default [1, 2, 4] "
                                           "when no levels are given)")
    slo: str | None = Field(None, description='e.g. "p90_ttft_ms<=500": the knee of a sweep, capacity picks')
    duration_s: float | None = Field(None, gt=0, description="measured phase length per level")
    requests: int | None = Field(None, ge=1, description="measured requests per level")
    warmup_requests: int = Field(1, ge=0, description="requests per level sent first and excluded")
    request_timeout_s: float = Field(120.0, gt=0)
    stall_timeout_s: float = Field(30.0, gt=0, description="a streaming answer with no complete event for this "
                                   "long ends as an error (timeout-stalled): a server trickling bytes cannot hold "
                                   "a user for the whole request timeout")
    max_lag_ms: float = Field(1.0, gt=0, description="a mean schedule lag under this never flags a run (ms)")
    lag_tolerance: float = Field(0.05, gt=0, description="flag client-lag when mean lag > max(max_lag_ms, this x mean E2E)")
    scrape_interval_s: float = Field(1.0, ge=0, description="scrape the engine's /metrics this often (0: off)")
    min_duration_s: float | None = Field(None, gt=0, description="adaptive window: measure at least this long")
    max_duration_s: float | None = Field(None, gt=0, description="adaptive window: stop here even if imprecise")
    target_half_width: float = Field(0.05, gt=0, lt=1, description="adaptive window: stop once every headline "
                                     "figure's 95 % interval half-width is within this fraction of the figure")
    precision_figures: list[str] = Field(default_factory=lambda: ["output_throughput_tok_s", "ttft_ms.p50",
                                                                  "ms_per_token.p50"])
    rounds: int = Field(DEFAULT_ROUNDS, ge=1, le=20, validation_alias=AliasChoices("rounds", "trials"),
                        description="measure every cell this many times, interleaved: each round measures every "
                        "deployment x level once, in an order that rotates (stored as <cell>, <cell>__t2, ...); "
                        "trials is an alias")
    restart_server: bool = Field(False, description="start the engine afresh for each round")
    contention_cpu: float = Field(0.10, gt=0, description="flag 'contended' when foreign processes used more "
                                  "than this share of the server's cores")
    contention_steal: float = Field(0.05, gt=0, description="... or steal time above this share")
    contention_slowdown: float | None = Field(1.3, ge=1.0, description="... or the host's CPU ran this many times "
                                              "slower than its typical speed in the study (CPU probe: a neighbour "
                                              "outside the machine)")
    contention_retries: int = Field(2, ge=0, le=5, description="measure a contended cell again at most this often")
    pin_client: bool = Field(True, description="pin the client to cores no server uses, when there are any")
    workers: int | Literal["auto"] = Field(1, description="client processes (one event loop each) sharing a level's "
                                           "users or arrivals; auto: one per client core the server leaves free")
    cluster: str | None = Field(None, description="run the load workers on this Dask cluster (tcp://HOST:8786); "
                                "needs deploybench[dask]")

    @field_validator("workers")
    @classmethod
    def _workers(cls, v: int | str) -> int | str:
        if isinstance(v, int) and not 1 <= v <= 256:
            raise ValueError("must be auto or 1 to 256")
        return v

    @field_validator("cluster")
    @classmethod
    def _cluster(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(tcp|tls|inproc|ucx)://\S+$", v):
            raise ValueError("must be a Dask scheduler address such as tcp://HOST:8786")
        return v

    @field_validator("concurrency")
    @classmethod
    def _levels(cls, v: list[int] | None, info: ValidationInfo) -> list[int] | None:
        if v is not None and any(c < 1 for c in v):
            raise ValueError("levels must be >= 1")
        if v == [] and not info.data.get("levels"):
            raise ValueError("needs at least one level, e.g. [1, 4] (or give load.levels)")
        return v

    @property
    def trials(self) -> int:
        """The former name of :attr:`rounds`."""
        return self.rounds

    @property
    def all_levels(self) -> list:
        """Every level in order: the ``concurrency`` shorthand first, then ``levels``."""
        return [ClosedLevel(users=c) for c in (self.concurrency or [])] + list(self.levels)

    @model_validator(mode="after")
    def _bounded(self) -> "LoadConfig":
        if self.concurrency is None:
            self.concurrency = [] if self.levels else [1, 2, 4]
        if not self.concurrency and not self.levels:
            raise ValueError("needs at least one level, e.g. concurrency: [1, 4]")
        keys = [lv.key for lv in self.all_levels]
        if len(set(keys)) != len(keys):
            raise ValueError(f"levels repeat: {', '.join(sorted({k for k in keys if keys.count(k) > 1}))}; "
                             "give each level once")
        if any(lv.kind == "sweep" for lv in self.levels) and not self.slo:
            raise ValueError("a sweep needs an SLO for its knee: add load.slo (or --slo), e.g. \"p90_ttft_ms<=500\"")
        if self.adaptive:
            lo, hi = self.min_duration_s, self.max_duration_s
            if lo is None or hi is None:
                raise ValueError("an adaptive window needs both min_duration_s and max_duration_s, "
                                 "e.g. min_duration_s: 6, max_duration_s: 60")
            if hi < lo:
                raise ValueError(f"max_duration_s ({hi:g}) is below min_duration_s ({lo:g}); raise max_duration_s")
            return self
        if self.duration_s is None and self.requests is None:  # nothing said: long enough for the target
            self.min_duration_s, self.max_duration_s = DEFAULT_WINDOW_S
        return self

    @property
    def adaptive(self) -> bool:
        """A level runs until its intervals are tight (between min and max duration)."""
        return self.min_duration_s is not None or self.max_duration_s is not None


# --------------------------------------------------------------------------- deployments


class Hardware(_Strict):
    name: str = "local"
    price_per_hour: float | None = Field(None, ge=0)


class Deployment(_Strict):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # the engine union needs the registry

    name: str = "default"
    engine: EngineConfig = Field(default_factory=default_engine)
    protocol: ProtocolKind = "openai-chat"
    hardware: Hardware = Field(default_factory=Hardware)
    labels: dict[str, str] = Field(default_factory=dict)


class RunConfig(_Strict):
    """One deployment measured at each load level: what ``deploybench run`` executes."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    deployment: Deployment = Field(default_factory=Deployment)
    workload: Workload = Field(default_factory=Workload)
    load: LoadConfig = Field(default_factory=LoadConfig)


class Endpoint(BaseModel):
    """Where a started engine (or an external server) listens, and how to talk to it."""

    url: str
    protocol: ProtocolKind = "openai-chat"
    model: str = ""
    headers: dict[str, str] = Field(default_factory=dict, exclude=True, repr=False)
    supports_ignore_eos: bool = True
    metrics_url: str | None = None
    usage_per_event: bool = Field(False, description="ask for a running usage count on every streamed event "
                                  "(vLLM's stream_options.continuous_usage_stats): exact tokens per event")
