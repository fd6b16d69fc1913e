"""llama.cpp quality runs: ``llama-perplexity`` on the held-out text, and KL divergence and top-token
agreement against the baseline's saved log-probabilities (``--kl-divergence-base`` / ``--kl-divergence``).

Each chunk of ``ctx`` tokens is evaluated from scratch and its second half is scored
(``ctx - 1 - ctx // 2`` predictions per chunk), so every scored token has at least ``ctx / 2``
tokens of context. The baseline's log-probabilities are computed once per (baseline file, text,
ctx, chunks) and cached beside the models (``$DEPLOYBENCH_CACHE/models/quality``).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from ..engines.llamacpp import binary_version
from ..engines.modelgen import sha256_file
from ..engines.modelgen.cache import building, model_cache_dir
from ..engines.modelgen.quant import log_tail, run_tool
from ..engines.modelgen.tools import tool_binary
from ..schemas import ConfigError, EngineError

_NUM = r"([-+0-9.eE]+|nan|inf)"
_PATTERNS = {
    "perplexity": re.compile(r"Mean PPL\(Q\)\s*:\s*" + _NUM),
    "perplexity_base": re.compile(r"Mean PPL\(base\)\s*:\s*" + _NUM),
    "kld": re.compile(r"Mean\s+KLD:\s*" + _NUM),
    "kld_p99": re.compile(r"99\.0%\s+KLD:\s*" + _NUM),
    "top1_agreement": re.compile(r"Same top p:\s*" + _NUM),
}
_FINAL = re.compile(r"Final estimate:\s*PPL\s*=\s*" + _NUM)
_CHUNKS = re.compile(r"(?:calculating perplexity|computing) over (\d+) chunks")


def text_file(path: str | Path | None = None) -> Path:
    """The held-out text: ``path``, else the bundled ``data/quality-text.txt`` (Hamlet, public domain)."""
    text = Path(path).expanduser() if path else Path(__file__).resolve().parents[1] / "data" / "quality-text.txt"
    if not text.is_file():
        raise ConfigError(f"quality.text: file not found: {text}", "give an existing UTF-8 text file")
    return text


def sha256_of(path: Path) -> str:
    # sha256_file: cached by path, size and mtime
    return sha256_file(Path(path))


def default_threads(threads: int | None = None) -> int:
    return threads or min(2, os.cpu_count() or 1)


def scored_tokens(ctx: int, chunks: int) -> int:
    return chunks * (ctx - 1 - ctx // 2)


def _argv(model: Path, ctx: int, threads: int) -> list[str]:
    return [str(tool_binary("llama-perplexity")), "-m", str(model), "-c", str(ctx), "-b", str(ctx),
            "-t", str(threads)]


def _chunks_used(out: str, asked: int) -> int:
    m = _CHUNKS.search(out)
    return int(m.group(1)) if m else asked


def base_logits(base: Path, text: Path, ctx: int, chunks: int, threads: int | None = None,
                timeout_s: float = 900.0) -> tuple[Path, dict[str, Any]]:
    """The baseline's log-probabilities over the text (cached) and its perplexity on them."""
    key = f"{sha256_of(base)[:16]}-{sha256_of(text)[:12]}-c{ctx}x{chunks}"
    target = model_cache_dir() / "quality" / f"base-logits-{key}.bin"
    info_path = target.with_suffix(".json")
    with building(target) as tmp:
        if tmp is not None:
            argv = _argv(base, ctx, default_threads(threads)) + [
                "-f", str(text), "--chunks", str(chunks), "--kl-divergence-base", str(tmp)]
            out = run_tool(argv, target.with_suffix(".log"), timeout_s, f"llama-perplexity (baseline) {base.name}")
            m = _FINAL.search(out)
            if not m:
                raise EngineError(f"llama-perplexity {base.name}: no final estimate; log {target.with_suffix('.log')}: "
                                  f"{log_tail(target.with_suffix('.log'))}",
                                  f"the text may be too short for ctx={ctx} (needs >= {2 * ctx} tokens)")
            used = _chunks_used(out, chunks)
            info_path.write_text(json.dumps({"perplexity": float(m.group(1)), "chunks": used,
                                             "tokens_scored": scored_tokens(ctx, used)}))
    return target, json.loads(info_path.read_text())


def kld_run(model: Path, logits: Path, ctx: int, threads: int | None = None,
            timeout_s: float = 900.0) -> dict[str, float]:
    """Perplexity, mean and 99th-percentile KLD and same-top-token share of ``model`` against the
    baseline whose log-probabilities are in ``logits`` (same tokens, same ``ctx``)."""
    tag = hashlib.sha256(f"{model}|{logits}".encode()).hexdigest()[:12]
    log = model_cache_dir() / "logs" / f"kld-{Path(model).stem}-{tag}.log"
    argv = _argv(model, ctx, default_threads(threads)) + ["--kl-divergence-base", str(logits), "--kl-divergence"]
    out = run_tool(argv, log, timeout_s, f"llama-perplexity --kl-divergence {Path(model).name}")
    return parse_kld(out, f"llama-perplexity --kl-divergence {Path(model).name}; log {log}: {log_tail(log)}")


def parse_kld(out: str, where: str = "llama-perplexity") -> dict[str, float]:
    """The summary block of a ``--kl-divergence`` run -> figures (top-token share as a fraction)."""
    vals: dict[str, float] = {}
    for key, rx in _PATTERNS.items():
        m = rx.search(out)
        if not m:
            raise EngineError(f"{where}: no '{key}' in the output", "check that the model and the baseline "
                              "share a vocabulary and that the llama.cpp build has --kl-divergence")
        vals[key] = float(m.group(1))
    vals["top1_agreement"] = round(vals["top1_agreement"] / 100.0, 7)
    return vals


_PPL_MEMO: dict[tuple, dict[str, float]] = {}


def perplexity_run(model: Path, text: Path, ctx: int, chunks: int, threads: int | None = None,
                   timeout_s: float = 900.0) -> dict[str, float]:
    """llama-perplexity's final estimate alone (method ``perplexity``: no baseline logits); the same
    file, text and shape are measured once per process."""
    key = (sha256_of(model), sha256_of(text), ctx, chunks)
    if key not in _PPL_MEMO:
        _PPL_MEMO[key] = _perplexity_run(model, text, ctx, chunks, threads, timeout_s)
    return _PPL_MEMO[key]


def _perplexity_run(model: Path, text: Path, ctx: int, chunks: int, threads: int | None,
                    timeout_s: float) -> dict[str, float]:
    log = model_cache_dir() / "logs" / f"ppl-{Path(model).stem}-{sha256_of(text)[:8]}-c{ctx}x{chunks}.log"
    argv = _argv(model, ctx, default_threads(threads)) + ["-f", str(text), "--chunks", str(chunks)]
    out = run_tool(argv, log, timeout_s, f"llama-perplexity {Path(model).name}")
    m = _FINAL.search(out)
    if not m:
        raise EngineError(f"llama-perplexity {Path(model).name}: no final estimate; log {log}: {log_tail(log)}",
                          f"the text may be too short for ctx={ctx} (needs >= {2 * ctx} tokens)")
    used = _chunks_used(out, chunks)
    return {"perplexity": float(m.group(1)), "chunks": used, "tokens_scored": scored_tokens(ctx, used)}


def tool_version() -> str:
    tool = tool_binary("llama-perplexity")
    return f"llama-perplexity {binary_version(tool)}"
