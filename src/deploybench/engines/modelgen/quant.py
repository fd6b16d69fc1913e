"""Quantization ladders with ``llama-quantize`` and their quality cost with ``llama-perplexity``."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path

from ...schemas import ConfigError, EngineError
from . import gguf
from .cache import building, model_cache_dir, sha256_file
from .tools import tool_binary

#: types llama-quantize makes without an importance matrix (the IQ1/IQ2 types need one)
QTYPES: tuple[str, ...] = (
    "F32", "F16", "BF16", "Q8_0", "Q6_K", "Q5_K_M", "Q5_K_S", "Q5_1", "Q5_0", "Q4_K_M", "Q4_K_S",
    "Q4_1", "Q4_0", "IQ4_NL", "IQ4_XS", "Q3_K_L", "Q3_K_M", "Q3_K_S", "Q2_K",
)
DEFAULT_LADDER: tuple[str, ...] = ("F16", "Q8_0", "Q5_K_M", "Q4_K_M")
NATIVE = ("native", "")
# general.file_type values (llama_ftype) of the unquantized file types
_UNQUANTIZED_FTYPES = {0, 1, 32}  # ALL_F32, MOSTLY_F16, MOSTLY_BF16
_PPL_RE = re.compile(r"Final estimate:\s*PPL\s*=\s*([0-9.eE+-]+|nan|inf)")


def check_qtype(qtype: str) -> str:
    """Normalise a quantization name (case-insensitive) or raise a one-line ConfigError."""
    q = str(qtype).strip().upper()
    if q not in QTYPES:
        raise ConfigError(f"quantization: '{qtype}' is not a known llama-quantize type",
                          f"use native or one of: {', '.join(QTYPES)}")
    return q


def file_type_name(ftype: int | None) -> str | None:
    """``general.file_type`` -> ``"Q4_K_M"``, ``"F16"``, ``"F32"`` ... (None if absent)."""
    if ftype is None:
        return None
    try:
        import gguf  # noqa: PLC0415

        name = gguf.LlamaFileType(ftype).name
    except (ImportError, ValueError):
        return str(ftype)
    return name.removeprefix("MOSTLY_").removeprefix("ALL_")


def log_tail(path: Path, n: int = 6) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:])


def quantized_path(src: Path, qtype: str) -> Path:
    digest = sha256_file(Path(src))[:16]
    return model_cache_dir() / "quantized" / f"{Path(src).stem}.{digest}.{check_qtype(qtype)}.gguf"


def quantize(src: Path, qtype: str, *, threads: int | None = None, timeout_s: float = 900.0) -> Path:
    """``src`` requantized to ``qtype`` by llama-quantize, cached by (sha256 of ``src``, qtype).

    ``qtype`` "native" (or "") returns ``src``; so does the type ``src`` already has. A quantized
    source is requantized (``--allow-requantize``: quality compounds, e.g. Q4_1 -> F16 -> Q8_0
    keeps Q4_1's loss). Raises ConfigError for an unknown type, EngineError with the tool's log tail
    if it fails or runs past ``timeout_s``.
    """
    src = Path(src)
    if str(qtype).strip().lower() in NATIVE:
        return src
    q = check_qtype(qtype)
    hdr = gguf.model_header(src, "quantize")
    ftype = hdr.get("general.file_type")
    if file_type_name(ftype) == q:
        return src
    target = quantized_path(src, q)
    with building(target) as tmp:
        if tmp is not None:
            argv = [str(tool_binary("llama-quantize"))]
            if ftype is None or ftype not in _UNQUANTIZED_FTYPES:
                argv.append("--allow-requantize")
            argv += [str(src), str(tmp), q, str(threads or os.cpu_count() or 1)]
            run_tool(argv, target.with_suffix(".log"), timeout_s, f"llama-quantize {src.name} -> {q}")
    return target


def run_tool(argv: list[str], log: Path, timeout_s: float, what: str) -> str:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        try:
            proc = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired as exc:
            raise EngineError(f"{what}: timed out after {timeout_s:.0f}s; log {log}: {log_tail(log)}",
                              "raise the timeout or use a smaller model") from exc
    if proc.returncode != 0:
        raise EngineError(f"{what}: exited with code {proc.returncode}; log {log}: {log_tail(log)}",
                          "check the source model and the quantization type")
    return log.read_text(errors="replace")


def ladder(src: Path, qtypes: Sequence[str] = DEFAULT_LADDER, **kw) -> dict[str, Path]:
    """``{qtype: path}`` in the given order (all names checked before any work starts)."""
    names = [q if str(q).strip().lower() in NATIVE else check_qtype(q) for q in qtypes]
    return {q: quantize(src, q, **kw) for q in names}


def bundled_corpus() -> Path:
    return Path(__file__).resolve().parents[2] / "data" / "corpus.txt"


def perplexity(path: Path, text_file: Path | None = None, ctx: int = 128, chunks: int = 4, *,
               threads: int | None = None, timeout_s: float = 300.0) -> float:
    """llama-perplexity's final PPL estimate for ``path`` on ``text_file`` (default: bundled corpus).

    Needs at least ``2 * ctx`` tokens of text; ``chunks`` bounds the work (ctx x chunks tokens).
    """
    text = Path(text_file) if text_file else bundled_corpus()
    if not text.is_file():
        raise ConfigError(f"perplexity: text file not found: {text}", "give an existing UTF-8 text file")
    log = model_cache_dir() / "logs" / f"perplexity-{Path(path).stem}-c{ctx}x{chunks}.log"
    argv = [str(tool_binary("llama-perplexity")), "-m", str(path), "-f", str(text), "-c", str(ctx),
            "--chunks", str(chunks), "-t", str(threads or os.cpu_count() or 1), "-b", str(max(ctx, 32))]
    out = run_tool(argv, log, timeout_s, f"llama-perplexity {Path(path).name}")
    m = _PPL_RE.search(out)
    if not m:
        raise EngineError(f"llama-perplexity {Path(path).name}: no final estimate; log {log}: {log_tail(log)}",
                          f"the text may be too short for ctx={ctx} (needs >= {2 * ctx} tokens)")
    return float(m.group(1))
