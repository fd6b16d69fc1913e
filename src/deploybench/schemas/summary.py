"""Summaries computed from records by :mod:`deploybench.metrics`."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Dist(BaseModel):
    """Distribution of one metric (milliseconds unless the name says otherwise)."""

    n: int = 0
    mean: float | None = None
    min: float | None = None
    p50: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None


class RunSummary(BaseModel):
    run_id: str
    deployment: str
    concurrency: int
    requests: int = Field(description="measured requests (warm-up excluded)")
    completed: int
    errors: int
    error_rate: float
    window_s: float
    output_tokens: int = Field(description="output tokens that arrived inside the window")
    input_tokens: int = 0
    output_throughput_tok_s: float
    request_throughput_rps: float
    goodput_rps: float | None = None
    ttft_ms: Dist
    tpot_ms: Dist
    itl_ms: Dist
    e2e_ms: Dist
    ms_per_token: Dist = Field(description="E2E / output tokens (2023-study compatible)")
    schedule_lag_ms: Dist
    client_lagged: bool = False
    token_source: str = "usage"
    price_per_hour: float | None = None
    minutes_per_1m_tokens: float | None = None
    cost_per_1m_tokens: float | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    external: dict[str, Any] = Field(default_factory=dict, description="figures imported from elsewhere")
    server: dict[str, Any] = Field(default_factory=dict, description="the engine's own /metrics, mean/max in the window")
