"""Quality of a model's quantization ladder (methods ``kld`` and ``perplexity``), cached by model hash.

The baseline is the least-quantized form deploybench has of the model: the file as shipped or
generated (``modelgen.resolve_base``). For a random Llama that is F16; for the PyPI SmolLM2 it is the
shipped Q4_1 file, so every figure is the loss *added* by requantizing it.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path

from ..engines.modelgen import check_qtype, quantize, resolve_base
from ..engines.modelgen.cache import model_cache_dir
from ..engines.modelgen.quant import NATIVE
from ..schemas import ConfigError
from ..schemas.quality import QualityResult
from . import llamacpp as lc
from .bpw import weights_info

CACHE_VERSION = 1
LADDER_METHODS = ("kld", "perplexity")


def check_quants(quantizations: Sequence[str] | str, field: str = "--quantizations") -> list[str]:
    items = quantizations.split(",") if isinstance(quantizations, str) else list(quantizations)
    names = [q.strip() for q in items if str(q).strip()]
    if not names:
        raise ConfigError(f"{field}: no quantization given", "write e.g. --quantizations Q8_0,Q4_K_M,Q2_K")
    try:
        return ["native" if q.lower() in NATIVE else check_qtype(q) for q in names]
    except ConfigError as exc:
        raise ConfigError(f"{field}: {exc.problem.removeprefix('quantization: ')}", exc.fix) from None


def baseline_name(ref: str, base: Path) -> str:
    ftype = weights_info(base)["file_type"] or "?"
    how = "as generated" if ref.startswith("random-llama:") else "as shipped"
    return f"{ref} {how} ({ftype})"


def measure_ladder(ref: str, quantizations: Sequence[str] | str, method: str = "kld", *, ctx: int = 256,
                   chunks: int = 8, threads: int | None = None, text: str | Path | None = None,
                   fresh: bool = False) -> list[QualityResult]:
    """One :class:`QualityResult` per quantization of model ``ref`` (same references as a study's
    model ``source``), in the given order. Cached by (model sha256, baseline sha256, text sha256,
    method, ctx, chunks); ``fresh`` measures again."""
    if method not in LADDER_METHODS:
        raise ConfigError(f"quality method '{method}' does not apply to a model file",
                          "use kld or perplexity (agreement compares two running deployments in a study)")
    names = check_quants(quantizations)
    base = resolve_base(ref)
    txt = lc.text_file(text)
    ctx_info = dict(ref=ref, base=base, text=txt, method=method, ctx=ctx, chunks=chunks, threads=threads)
    return [_one(q, quantize(base, q), ctx_info, fresh) for q in names]


def _cache_path(path: Path, c: dict) -> Path:
    key = json.dumps([CACHE_VERSION, c["method"], lc.sha256_of(path), lc.sha256_of(c["base"]),
                      lc.sha256_of(c["text"]), c["ctx"], c["chunks"]])
    return model_cache_dir() / "quality" / f"result-{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def _one(q: str, path: Path, c: dict, fresh: bool) -> QualityResult:
    cache = _cache_path(path, c)
    if cache.is_file() and not fresh:
        try:
            return QualityResult.model_validate_json(cache.read_text()).model_copy(update={"quantization": q})
        except ValueError:
            cache.unlink(missing_ok=True)  # a corrupt entry is measured again
    figures = _figures(path, c)
    ppl, base_ppl = figures.get("perplexity"), figures.get("perplexity_base")
    res = QualityResult(
        method=c["method"], model=c["ref"], quantization=q, model_sha256=lc.sha256_of(path),
        baseline=baseline_name(c["ref"], c["base"]), baseline_sha256=lc.sha256_of(c["base"]),
        perplexity_change=(ppl / base_ppl - 1.0) if ppl and base_ppl else None,
        text=c["text"].name, text_sha256=lc.sha256_of(c["text"]), ctx=c["ctx"], tool=lc.tool_version(),
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), **weights_info(path), **figures)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(res.model_dump_json(indent=2))
    tmp.replace(cache)
    return res


def _figures(path: Path, c: dict) -> dict:
    same = lc.sha256_of(path) == lc.sha256_of(c["base"])
    if c["method"] == "kld":
        logits, base = lc.base_logits(c["base"], c["text"], c["ctx"], c["chunks"], c["threads"])
        common = dict(chunks=base["chunks"], tokens_scored=base["tokens_scored"], perplexity_base=base["perplexity"])
        if same:  # the baseline itself: identical logits by construction
            return dict(common, perplexity=base["perplexity"], kld=0.0, kld_p99=0.0, top1_agreement=1.0,
                        note="the baseline itself")
        figs = lc.kld_run(path, logits, c["ctx"], c["threads"])
        return dict(figs, chunks=base["chunks"], tokens_scored=base["tokens_scored"])
    base = lc.perplexity_run(c["base"], c["text"], c["ctx"], c["chunks"], c["threads"])
    mine = base if same else lc.perplexity_run(path, c["text"], c["ctx"], c["chunks"], c["threads"])
    return dict(perplexity=mine["perplexity"], perplexity_base=base["perplexity"], chunks=mine["chunks"],
                tokens_scored=mine["tokens_scored"], note="the baseline itself" if same else None)
