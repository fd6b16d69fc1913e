"""Raw measurement records. Only timestamps and counts are stored; every metric is derived."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

TokenSource = Literal["usage", "tokenizer", "chunks", "none"]


class RequestRecord(BaseModel):
    """One request as the client saw it. Times are ``time.monotonic_ns()`` values."""

    index: int = Field(description="order in which the request was scheduled within the run")
    vu: int = Field(0, description="virtual user (closed-loop client) that sent it")
    warmup: bool = False
    prompt_id: str = ""
    scheduled_ns: int
    started_ns: int | None = Field(None, description="the client began the request (TTFT split; None in "
                                   "records from before it, or without the trace hooks)")
    connected_ns: int | None = Field(None, description="a connection was ready: a new one connected, or a "
                                     "pooled one taken (see reused)")
    reused: bool | None = Field(None, description="sent on a pooled keep-alive connection (None: not known)")
    sent_ns: int
    headers_ns: int | None = Field(None, description="the response head (status line and headers) was read")
    chunk_ns: list[int] = Field(default_factory=list, description="arrival of each chunk carrying output tokens "
                                "of any kind (answer text, reasoning, tool calls)")
    chunk_tokens: list[int] = Field(default_factory=list, description="tokens carried by each chunk")
    first_content_ns: int | None = Field(None, description="arrival of the first chunk carrying answer text")
    done_ns: int
    input_tokens: int | None = None
    output_tokens: int | None = None
    token_source: TokenSource = "none"
    max_tokens: int | None = None
    finish_reason: str | None = None
    error: str | None = None
    http_status: int | None = None
    worker: int | None = Field(None, description="load worker (client process) that sent it; None: one process")
    clock_offset_ns: int | None = Field(None, description="added to the worker's monotonic clock to align its "
                                        "times (stored aligned) with the coordinator's")
    relative_time: bool = Field(False, description="imported from a tool that gives latencies but no absolute "
                                "times: every time is relative to the request's own start (sent_ns = 0), so "
                                "records cannot be placed on one timeline (docs/import.md)")

    @property
    def ok(self) -> bool:
        return self.error is None


class HostInfo(BaseModel):
    hostname: str = ""
    platform: str = ""
    python: str = ""
    cpu_model: str = ""
    cpu_count: int = 0
    memory_gib: float = 0.0
    packages: dict[str, str] = Field(default_factory=dict)


class EngineInfo(BaseModel):
    kind: str
    url: str = ""
    model: str = ""
    binary: str | None = None
    binary_version: str | None = None
    argv: list[str] = Field(default_factory=list)
    model_path: str | None = None
    model_sha256: str | None = None
    model_bytes: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


RunStatus = Literal["running", "complete", "interrupted", "failed"]


class RunMeta(BaseModel):
    """Everything needed to interpret (and re-summarize) a run's records."""

    run_id: str
    study: str | None = None
    deployment: str = "default"
    deployment_config: dict[str, Any] = Field(default_factory=dict)
    concurrency: int
    config: dict[str, Any] = Field(default_factory=dict)
    engine: EngineInfo | None = None
    host: HostInfo = Field(default_factory=HostInfo)
    deploybench_version: str = ""
    started_at: str = ""
    ended_at: str | None = None
    window_start_ns: int | None = None
    window_end_ns: int | None = None
    status: RunStatus = "running"
    note: str | None = None
    price_per_hour: float | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    external: dict[str, Any] = Field(default_factory=dict, description="figures imported from elsewhere")
    flags: list[str] = Field(default_factory=list, description="set while measuring: imprecise, contended, shared-cpu")
    trial: int = Field(1, ge=1, description="round number of this cell (load.rounds)")
    round_design: str = Field("", description="interleaved | back-to-back (see RunSummary.round_design)")
    level: dict[str, Any] = Field(default_factory=dict, description="the load level (kind-tagged); empty = "
                                  "closed loop at `concurrency` users (older runs)")
    contention: dict[str, Any] = Field(default_factory=dict, description="host CPU use sampled during the cell")
    features: dict[str, Any] | None = Field(None, description="typed features of the cell (model architecture, bits "
                                            "per weight, hardware figures, workload lengths, level) as "
                                            "deploybench.predict.CellFeatures; null when they could not be computed")
    features_note: str | None = Field(None, description="why `features` is null")
