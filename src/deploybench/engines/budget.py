"""The one cost guard, shared by an engine's own limit (``engines.create``) and a study's ``max_cost``."""

from __future__ import annotations

from ..schemas.errors import ConfigError


def check_budget(estimate_usd: float | None, max_usd: float | None, what: str, fix: str) -> float | None:
    """The one cost guard: ConfigError when ``estimate_usd`` (None: no price known) exceeds ``max_usd``."""
    if max_usd is None:
        return estimate_usd
    if estimate_usd is None:
        raise ConfigError(f"{what}: no price known", "give hardware.price_per_hour (or a catalog instance type), "
                          "or remove the cost limit")
    if estimate_usd > max_usd:
        raise ConfigError(f"estimated cost ${estimate_usd:.2f} ({what}) exceeds max_cost ${max_usd:.2f}", fix)
    return estimate_usd
