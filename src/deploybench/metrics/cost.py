"""Minutes and dollars per 1M output tokens at a throughput (pure)."""

from __future__ import annotations


def minutes_per_1m(tokens_per_s: float) -> float | None:
    """Minutes to generate 1M output tokens at ``tokens_per_s``."""
    return None if tokens_per_s <= 0 else 1e6 / tokens_per_s / 60.0


def cost_per_1m(price_per_hour: float | None, tokens_per_s: float) -> float | None:
    """Dollars to generate 1M output tokens: price/hour x hours to 1M tokens."""
    minutes = minutes_per_1m(tokens_per_s)
    if price_per_hour is None or minutes is None:
        return None
    return price_per_hour * minutes / 60.0
