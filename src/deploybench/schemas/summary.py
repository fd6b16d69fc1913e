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


class Interval(BaseModel):
    """A 95 % interval on one figure (docs/metrics.md, "Intervals")."""

    lo: float
    hi: float
    n: int = Field(0, description="observations behind it: batches, requests or trials")
    method: str = ""


FLAGS = {
    "client-lag": "the client's schedule lag was large enough to distort the figures; skipped by recommend",
    "contended": "other processes took CPU from the server's cores; skipped by recommend",
    "failed": "the server died or stopped answering mid-level (see the cell's note); the level stopped at once, "
              "and the next run measures the cell again",
    "imprecise": "the level reached its maximum time before its intervals met the target; a cell of several "
                 "rounds: its intervals over the rounds are wider than the target (measure more rounds)",
    "shared-cpu": "the client ran on the server's cores (no spare core to pin it to)",
    "truncated": "the level was cut off by its safety hard limit; requests in flight are stored as errors "
                 "(cancelled)",
    "ttft-from-sent": "some records have no started_ns (stores written before it, SageMaker through botocore): "
                      "their TTFT and E2E run from when the request was written, without connect and write time",
}
"""Every flag a cell can carry, with what it means (reports print these)."""


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
    ttft_from_due_ms: Dist | None = Field(None, description="open loop: TTFT from each request's scheduled "
                                          "arrival (SLOs, goodput and capacity read this in open loop)")
    e2e_from_due_ms: Dist | None = Field(None, description="open loop: E2E from each request's scheduled arrival")
    ms_per_token: Dist = Field(description="client E2E / output tokens (queue, prefill and network included)")
    schedule_lag_ms: Dist
    client_lagged: bool = False
    token_source: str = "usage"
    price_per_hour: float | None = None
    minutes_per_1m_tokens: float | None = None
    cost_per_1m_tokens: float | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    external: dict[str, Any] = Field(default_factory=dict, description="figures imported from elsewhere")
    server: dict[str, Any] = Field(default_factory=dict, description="the engine's own /metrics, mean/max in the window")
    intervals: dict[str, Interval] = Field(default_factory=dict,
                                           description="95 % intervals keyed by figure, e.g. 'ttft_ms.p50'")
    flags: list[str] = Field(default_factory=list, description="see FLAGS")
    trial: int = Field(1, description="trial number of this cell (1 = first run)")
    level: str = Field("", description="level key: c4 (closed, 4 users), r2-poisson (open loop), trace-<name>")
    level_kind: str = Field("closed", description="closed | rate | trace")
    offered_rps: float | None = Field(None, description="open loop: arrivals/s (window shifted by the median E2E)")
    achieved_rps: float | None = Field(None, description="open loop: completions/s on the same shifted window")
    dropped: int = Field(0, description="open loop: arrivals dropped at max_in_flight (counted in errors)")
    slo_attainment: float | None = Field(None, description="share of measured requests meeting every "
                                         "per-request SLO constraint (errors do not)")
    trials: int = Field(1, description="rounds combined into this summary (>1: figures from all rounds' requests, "
                        "intervals over rounds)")
    rounds: list[int] = Field(default_factory=list, description="round numbers combined into this summary")
    round_values: dict[str, list[float | None]] = Field(default_factory=dict, description="each headline figure "
                                                        "per round, in the order of `rounds` (paired picks read these)")
    round_design: str = Field("", description="interleaved (every cell once per round, order rotating) or "
                              "back-to-back (an engine slow to start: its rounds one after another)")
    contention: dict[str, Any] = Field(default_factory=dict, description="host CPU use during the cell")
    ttft_content_ms: Dist = Field(default_factory=Dist, description="time to the first answer-text token; "
                                  "ttft_ms counts the first output token of any kind (reasoning, tool calls)")
    token_mismatch: int = Field(0, description="successful requests whose server usage count differs from "
                                "the tokens that streamed")
    server_ms_per_token: Dist = Field(default_factory=Dist, description="the server's own time per token "
                                      "(imported 2023 cells: TGI time_per_token, inference only, no queue or "
                                      "network); never ranked against ms_per_token")
    stopped_short: int = Field(0, description="successful requests with fewer output tokens than their "
                               "max_tokens (the server ended them early); still in every percentile")
    ttft_split_ms: dict[str, Dist] = Field(default_factory=dict, description="where time to first token "
                                           "goes: schedule, connect, write, headers, first_token (and connect_new, "
                                           "connect_pooled), over successful requests (docs/metrics.md)")
    connections: dict[str, int] = Field(default_factory=dict, description="measured requests sent on a new / "
                                        "a pooled connection (new, pooled); empty in older records")
    missing: list[str] = Field(default_factory=list, description="imported cells: figures the source does not "
                               "give; they are null (a 0 in a number field listed here means nothing) and rules "
                               "needing one say so per cell")
    errors_by_kind: dict[str, int] = Field(default_factory=dict, description="measured failed requests by kind: "
                                           "http-429, timeout-stalled, connection-reset, ... (docs/metrics.md)")
