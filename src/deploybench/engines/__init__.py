"""Engines start (or connect to) an inference server and hand back an :class:`Endpoint`.

Each engine is one module here (or in a third-party package) with a ``PLUGIN``
(:class:`deploybench.schemas.EnginePlugin`) registered under the entry-point group
``deploybench.engines``; the registry lives in ``deploybench.schemas.plugins``. This package names
none of its engines: deploybench's own register through the same entry points as a third-party one.
The caller (``sweep``) owns the ``Engine`` Protocol. See docs/adding-an-engine.md.
"""

from __future__ import annotations

from pathlib import Path

from ..schemas.plugins import engine_plugin, engine_plugins
from .budget import check_budget
from .shortcut import shortcut_config

__all__ = ["check_budget", "create", "shortcut_config"]


def __getattr__(name: str):
    """An engine's config model by its class name (``from deploybench.engines import LlamaCppEngine``),
    looked up in the registry. Only CamelCase names: ``from . import process`` asks this first, while an
    engine module is still importing, and must not load the registry then."""
    if not name[:1].isupper():
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    for plugin in engine_plugins().values():
        if plugin.config.__name__ == name:
            return plugin.config
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
