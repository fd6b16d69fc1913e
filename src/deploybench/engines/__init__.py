"""Engines start (or connect to) an inference server and hand back an :class:`Endpoint`.

Registry keyed by the config's ``kind``; the caller (``sweep``) owns the ``Engine`` Protocol.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from ..schemas import ConfigError

_REGISTRY: dict[str, Callable] = {}


def register(kind: str, factory: Callable) -> None:
    _REGISTRY[kind] = factory


def create(cfg, log_dir: Path):
    """Build the engine for ``cfg`` (a kind-tagged engine config)."""
    _load_builtins()
    factory = _REGISTRY.get(cfg.kind)
    if factory is None:
        raise ConfigError(f"engine.kind: '{cfg.kind}' is not available here",
                          f"use one of: {', '.join(sorted(_REGISTRY))}")
    return factory(cfg, log_dir)


_builtins_loaded = False


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    from .external import ExternalServer
    from .llamacpp import LlamaCppServer

    _REGISTRY.setdefault("llamacpp", LlamaCppServer)
    _REGISTRY.setdefault("external", ExternalServer)
    register("vllm", _lazy("vllm", "VllmServer"))
    register("tgi", _lazy("tgi", "TgiServer"))
    register("sagemaker", _lazy("sagemaker", "SageMakerDeployment"))


def _lazy(module: str, cls: str) -> Callable:
    """Import an engine only when a study uses it (boto3, vLLM helpers are optional)."""

    def factory(cfg, log_dir: Path):
        import importlib

        return getattr(importlib.import_module(f".{module}", __name__), cls)(cfg, log_dir)

    return factory
