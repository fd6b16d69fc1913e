"""``deploybench quality MODEL --quantizations Q8_0,Q4_K_M,Q2_K``: a quantization ladder's quality cost.

Registered on the main app by :func:`register`. Bad input is one line (ConfigError), never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from .. import api
from ..schemas import ConfigError
from ..schemas.quality import QualityResult

out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)
DEFAULT_QUANTS = "Q8_0,Q4_K_M,Q2_K"
JSON_KEYS = ("quantization", "file_type", "bits_per_weight", "nominal_type_share", "perplexity", "perplexity_change",
             "kld", "kld_p99", "top1_agreement", "tensor_types", "model_sha256", "note")


def _pct(v: float | None, signed: bool = False) -> str:
    return "—" if v is None else (f"{v * 100:+.2f}%" if signed else f"{v * 100:.1f}%")


def _num(v: float | None, fmt: str) -> str:
    return "—" if v is None else fmt.format(v)


def quality_table(results: list[QualityResult], title: str) -> Table:
    t = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for c in ("quant", "bits/weight", "in nominal type", "perplexity", "vs baseline", "mean KLD", "KLD p99",
              "same top token"):
        t.add_column(c, justify="left" if c == "quant" else "right", no_wrap=True)
    for r in results:
        t.add_row(r.quantization, _num(r.bits_per_weight, "{:.2f}"), _pct(r.nominal_type_share),
                  _num(r.perplexity, "{:.3f}"), _pct(r.perplexity_change, signed=True), _num(r.kld, "{:.4f}"),
                  _num(r.kld_p99, "{:.4f}"), _pct(r.top1_agreement))
    return t


def ladder_json(model: str, method: str, results: list[QualityResult]) -> dict[str, Any]:
    first = results[0]
    return {"model": model, "method": method, "baseline": first.baseline, "baseline_sha256": first.baseline_sha256,
            "perplexity_base": first.perplexity_base, "text": first.text, "text_sha256": first.text_sha256,
            "ctx": first.ctx, "chunks": first.chunks, "tokens_scored": first.tokens_scored, "tool": first.tool,
            "quantizations": [{k: getattr(r, k) for k in JSON_KEYS} for r in results]}


def quality_cmd(
    model: str = typer.Argument(..., help="smollm2, gemma3-270m, random-llama:<size>, or a GGUF path "
                                          "(the references a study's model source takes)"),
    quantizations: str = typer.Option(DEFAULT_QUANTS, "--quantizations", "-q", help="comma-separated llama-quantize "
                                      "types; native = the baseline itself"),
    method: str = typer.Option("kld", "--method", help="kld (perplexity, KLD, top-token agreement) | perplexity"),
    ctx: int = typer.Option(256, "--ctx", help="tokens per chunk (the second half of each is scored)"),
    chunks: int = typer.Option(8, "--chunks", help="chunks of the held-out text to score"),
    threads: Optional[int] = typer.Option(None, "--threads", help="llama-perplexity threads (default min(2, CPUs))"),
    text: Optional[Path] = typer.Option(None, "--text", help="held-out text file (default: bundled quality-text.txt)"),
    fresh: bool = typer.Option(False, "--fresh", help="measure again instead of using cached figures"),
    as_json: bool = typer.Option(False, "--json", help="print the figures as JSON"),
) -> None:
    """Measure what each quantization of MODEL costs in quality against its least-quantized form (cached)."""
    if not 32 <= ctx <= 8192:
        raise ConfigError(f"--ctx: {ctx} is out of range", "use 32..8192, e.g. --ctx 256")
    if chunks < 1:
        raise ConfigError(f"--chunks: {chunks} must be at least 1", "use e.g. --chunks 8")
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads: {threads} must be at least 1", "omit it or give e.g. --threads 2")
    if text is not None and not text.is_file():
        raise ConfigError(f"--text: file not found: {text}", "give an existing UTF-8 text file, or omit it for the "
                          "bundled held-out text")
    results = api.quality_ladder(model, quantizations, method, ctx=ctx, chunks=chunks, threads=threads,
                                 text=text, fresh=fresh)
    if as_json:
        sys.stdout.write(json.dumps(ladder_json(model, method, results), indent=2) + "\n")
        return
    r0 = results[0]
    out.print(quality_table(results, f"deploybench quality — {model} ({method})"))
    out.print(f"baseline: {r0.baseline}, perplexity {_num(r0.perplexity_base, '{:.3f}')} over {r0.tokens_scored} "
              f"tokens of {r0.text} (ctx {r0.ctx} x {r0.chunks} chunks); {r0.tool}", highlight=False, markup=False,
              soft_wrap=True)
    out.print("KLD: mean KL divergence from the baseline's next-token distribution (nats/token); same top token: "
              "share of positions where both rank the same token first; bits/weight counts every tensor "
              "(llama-quantize keeps some in other types)", highlight=False, markup=False, soft_wrap=True)


class Gated:
    """``recommend --max-quality-loss``: what the limits kept and excluded, for the CLI to print."""

    def __init__(self, path: Path, summaries: list, spec: str | None, external: dict | None) -> None:
        self.spec = spec
        self.all = summaries
        self.kept, self.excluded, self.limits, self.table = api.quality_gate(path, summaries, spec, external)

    def json(self, picks: list[dict]) -> Any:
        if not self.limits:
            return picks
        return {"picks": picks, "quality_limits": [str(x) for x in self.limits],
                "excluded": [{"deployment": e.deployment, "cells": e.cells, "reasons": e.reasons}
                             for e in self.excluded]}

    def print(self, console: Console, picks: list) -> None:
        if not self.limits:
            return
        say = dict(highlight=False, markup=False, soft_wrap=True)
        console.print(f"quality limits: {', '.join(map(str, self.limits))} (kept {len(self.kept)} of "
                      f"{len(self.all)} cells)", **say)
        for e in self.excluded:
            console.print(e.line(), **say)
        groups = {s.labels.get("model") or "all" for s in self.all}
        for g in sorted(groups - {p.group for p in picks}):
            console.print(f"{g}: no deployment within the quality limits", **say)
        for p in picks:
            r = self.table.for_deployment(p.deployment) if self.table and p.deployment else None
            if r is not None:
                console.print(f"{p.group}: pick quality — {quality_line(r)}", **say)


def quality_line(r: QualityResult) -> str:
    parts = [f"{r.quantization} vs {r.baseline}"]
    if r.kld is not None:
        parts.append(f"mean KLD {r.kld:.4f}")
    if r.perplexity_change is not None:
        parts.append(f"perplexity {r.perplexity_change * 100:+.2f}%")
    if r.top1_agreement is not None:
        parts.append(f"same top token {r.top1_agreement * 100:.1f}%")
    if r.token_match is not None:
        parts.append(f"greedy token match {r.token_match * 100:.1f}%, exact {_pct(r.exact_match)}")
    if r.bits_per_weight is not None:
        parts.append(f"{r.bits_per_weight:.2f} bits/weight")
    return ", ".join(parts)


def register(app: typer.Typer) -> None:
    app.command("quality")(quality_cmd)
