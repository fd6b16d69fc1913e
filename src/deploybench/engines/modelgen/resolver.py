"""``resolve(ref, quantization)``: any model reference deploybench understands -> a GGUF path."""

from __future__ import annotations

import re
from pathlib import Path

from ...schemas import ConfigError
from .bundled import bundled_name, resolve_bundled
from .quant import quantize
from .generate import random_llama

RANDOM_PREFIX = "random-llama:"
_REF_HELP = ("use smollm2, gemma3-270m, random-llama:<size>[:seed=N][:dtype=f16|f32] "
             "(e.g. random-llama:50M:seed=1), or a GGUF path")


def parse_random_ref(ref: str) -> tuple[str, int, str]:
    """``random-llama:50M:seed=1:dtype=f32`` -> ("50M", 1, "f32")."""
    parts = ref[len(RANDOM_PREFIX):].split(":")
    size, seed, dtype = parts[0].strip(), 0, "f16"
    if not size:
        raise ConfigError(f"model '{ref}': missing size", _REF_HELP)
    for opt in parts[1:]:
        m = re.fullmatch(r"\s*(seed|dtype)\s*=\s*(\S+)\s*", opt)
        if not m:
            raise ConfigError(f"model '{ref}': unknown option '{opt}'", _REF_HELP)
        if m.group(1) == "seed":
            if not m.group(2).isdigit():
                raise ConfigError(f"model '{ref}': seed must be a non-negative integer", _REF_HELP)
            seed = int(m.group(2))
        else:
            dtype = m.group(2)
    return size, seed, dtype


def resolve_base(ref: str) -> Path:
    """The model as shipped/generated, before any quantization."""
    ref = ref.strip()
    if ref.startswith(RANDOM_PREFIX):
        return random_llama(*parse_random_ref(ref))
    if bundled_name(ref):
        return resolve_bundled(ref)
    if not Path(ref).expanduser().is_file():
        raise ConfigError(f"model: '{ref}' is neither a known model nor a file", _REF_HELP)
    return Path(ref).expanduser()


def resolve(ref: str, quantization: str | None = None) -> Path:
    """A model reference -> a GGUF file, quantized with llama-quantize unless ``quantization`` is
    None or "native" (as shipped). References: bundled names ("smollm2", "gemma3-270m"),
    ``random-llama:<size>[:seed=N][:dtype=f16|f32]``, or a path."""
    base = resolve_base(ref)
    if quantization is None:
        return base
    return quantize(base, quantization)
