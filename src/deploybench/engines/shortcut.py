"""The CLI's one-server shortcut (``deploybench run --model M --threads N``, ``--endpoint URL``): run's
options to the engine config of the plugin that takes them."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from ..schemas.errors import ConfigError
from ..schemas.plugins import default_kind, engine_plugin, engine_plugins
from ..schemas.validation import from_validation


def shortcut_config(options: dict[str, Any]) -> BaseModel:
    """The engine config of the CLI's one-server shortcut: ``options`` are ``run``'s shortcut options
    (None: not given). An engine whose ``shortcut_key`` is given takes them, else the default engine; an
    option that engine does not take is one line naming it."""
    given = {k: v for k, v in options.items() if v is not None}
    plugins = engine_plugins()
    keyed = [p for _, p in sorted(plugins.items()) if p.shortcut_key and p.shortcut_key in given]
    plugin = keyed[0] if keyed else engine_plugin(default_kind())
    flag = f"--{(plugin.shortcut_key or '').replace('_', '-')}" if plugin.shortcut_key else "engine"
    if not plugin.shortcut:
        raise ConfigError(f"engine '{plugin.kind}' has no command-line shortcut", "describe it in a study file")
    extra = [k for k in given if k not in plugin.shortcut]
    if extra:
        opts = ", ".join(f"--{k.replace('_', '-')}" for k in plugin.shortcut)
        raise ConfigError(f"--{extra[0].replace('_', '-')}: engine '{plugin.kind}' ({flag}) does not take it",
                          f"drop it; this engine takes {opts}")
    try:
        return plugin.config(**{plugin.shortcut[k]: v for k, v in given.items()})
    except ValidationError as exc:
        raise from_validation(exc, flag, "see `deploybench run --help`") from None
