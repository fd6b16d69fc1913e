"""Output quality of a deployment: how it is measured (study YAML ``quality:``) and what is stored.

Figures are defined in docs/metrics.md ("Quality"). Fractions are stored as fractions (0..1) and
shown as percentages.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from .config import ProtocolKind, _Strict

QualityMethod = Literal["perplexity", "kld", "agreement"]
METHODS: tuple[str, ...] = ("perplexity", "kld", "agreement")


class QualityConfig(_Strict):
    """``quality:`` in a study. ``kld`` (default) and ``perplexity`` run llama.cpp's
    ``llama-perplexity`` on the held-out text; ``agreement`` compares greedy outputs with a
    reference deployment over a fixed prompt set (any OpenAI-compatible server; a weaker measure)."""

    method: QualityMethod = "kld"
    ctx: int = Field(256, ge=32, le=8192, description="-c: tokens per chunk (the second half of each is scored)")
    chunks: int = Field(8, ge=1, le=1000, description="--chunks: chunks of the text to score")
    threads: int | None = Field(None, ge=1, description="llama-perplexity threads (default: min(2, CPUs))")
    text: str | None = Field(None, description="held-out UTF-8 text (default: the bundled quality-text.txt)")
    reference: str | None = Field(None, description="agreement: the reference deployment's name "
                                                     "(default: the first deployment of the study)")
    prompts: int = Field(16, ge=1, le=500, description="agreement: prompts in the fixed set")
    max_tokens: int = Field(32, ge=1, le=1024, description="agreement: greedy tokens per prompt")
    protocol: ProtocolKind | None = Field(None, description="agreement: openai-completions or openai-chat "
                                                             "(default: openai-completions for llama.cpp, "
                                                             "else the study's protocol)")


class QualityResult(BaseModel):
    """Quality of one model x quantization (methods ``kld``/``perplexity``) or of one deployment
    against a reference (``agreement``)."""

    method: QualityMethod
    model: str = Field(description="the model reference, e.g. smollm2 or random-llama:30M")
    quantization: str = Field(description="Q8_0, Q4_K_M, ... or native (as shipped)")
    deployments: list[str] = Field(default_factory=list, description="study deployments these figures hold for")
    model_sha256: str | None = None
    baseline: str | None = Field(None, description="what the figures are relative to, named")
    baseline_sha256: str | None = None
    file_type: str | None = None
    bits_per_weight: float | None = Field(None, description="tensor data bits / weights (all tensors)")
    nominal_type_share: float | None = Field(None, description="share of weights stored in the file's "
                                                               "nominal type (llama-quantize falls back)")
    tensor_types: dict[str, int] = Field(default_factory=dict, description="weights per ggml type")
    perplexity: float | None = None
    perplexity_base: float | None = None
    perplexity_change: float | None = Field(None, description="PPL / PPL(baseline) - 1")
    kld: float | None = Field(None, description="mean KL divergence from the baseline, nats per token")
    kld_p99: float | None = None
    top1_agreement: float | None = Field(None, description="share of tokens whose most likely next "
                                                           "token is the baseline's")
    token_match: float | None = Field(None, description="agreement: mean share of the reference's greedy "
                                                        "output reproduced before the first difference")
    exact_match: float | None = Field(None, description="agreement: share of prompts with identical output")
    reference: str | None = Field(None, description="agreement: the reference deployment")
    text: str | None = None
    text_sha256: str | None = None
    ctx: int | None = None
    chunks: int | None = None
    tokens_scored: int | None = None
    prompts: int | None = None
    max_tokens: int | None = None
    tool: str | None = Field(None, description="binary and version that measured it")
    measured_at: str | None = None
    note: str | None = None


class QualityTable(BaseModel):
    """``quality.json`` in a study folder."""

    method: QualityMethod
    results: list[QualityResult] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)

    def for_deployment(self, deployment: str) -> QualityResult | None:
        return next((r for r in self.results if deployment in r.deployments), None)
