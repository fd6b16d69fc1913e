"""Engines start (or connect to) an inference server and hand back an :class:`Endpoint`.

Each engine is one module here (or in a third-party package) with a ``PLUGIN``
(:class:`deploybench.schemas.EnginePlugin`) registered under the entry-point group
``deploybench.engines``; the registry lives in ``deploybench.schemas.plugins``. The caller
(``sweep``) owns the ``Engine`` Protocol. See docs/adding-an-engine.md.
"""

from __future__ import annotations

from pathlib import Path

from ..schemas.plugins import check_budget, engine_plugin
from .external import ExternalEngine
from .llamacpp import LlamaCppEngine
from .sagemaker import SageMakerEngine
from .tgi import TgiEngine
from .vllm import VllmEngine

__all__ = ["ExternalEngine", "LlamaCppEngine", "SageMakerEngine", "TgiEngine", "VllmEngine", "create"]


def create(cfg, log_dir: Path, price_per_hour: float | None = None):
    """The engine for ``cfg`` (a kind-tagged engine config), after its own cost limit is checked.

    ``price_per_hour``: the deployment's hardware price (the plan takes it from the catalog).
    """
    plugin = engine_plugin(cfg.kind)
    budget = plugin.budget(cfg)
    if budget is not None:
        hours, max_usd = budget
        check_budget(None if price_per_hour is None else price_per_hour * hours, max_usd,
                     f"{hours:g} h of engine '{cfg.kind}'",
                     "raise engine.max_cost, lower engine.expected_hours or pick cheaper hardware")
    return plugin.server(cfg, Path(log_dir), price_per_hour=price_per_hour)
