"""The figures a recommendation compares, on either basis.

``basis="deploybench"`` reads the summary as stored: counted output tokens over the measurement
window, and the cost derived from it. ``basis="study"`` replaces throughput (and therefore time
and cost per 1M tokens) by the figure an imported study published itself
(``external["study_throughput_tok_s"]``; for the 2023 study ``VU x 50 x 1000 / mean(total_time)``).
Latency figures are the same on both bases.

Two different "ms per token" exist and never meet in one ranking: ``ms_per_token`` (measured
cells: client E2E / output tokens, queue and network included) and ``server_ms_per_token``
(imported 2023 cells: TGI's ``time_per_token``, inference only). :func:`ms_per_token_figure`
chooses one per set of cells; a cell without that figure does not compete.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel

from ..metrics import cost_per_1m, minutes_per_1m
from ..schemas import ConfigError, Dist, RunSummary

Basis = Literal["deploybench", "study"]
BASES = ("deploybench", "study")
STUDY_KEYS = ("study_throughput_tok_s", "Thorughput (tokens/second)")
External = Mapping[str, Mapping[str, Any]]

DIST_FIELDS = ("ttft_ms", "ttft_content_ms", "tpot_ms", "itl_ms", "e2e_ms", "ms_per_token", "server_ms_per_token",
               "schedule_lag_ms")
MS_PER_TOKEN_FIGURES = {
    "ms_per_token": "client E2E / output tokens",
    "server_ms_per_token": "server-side time per token: TGI time_per_token, imported, no queue or network",
}
STATS = ("mean", "min", "p50", "p90", "p95", "p99", "max")
_LAT = re.compile(r"^(?P<stat>[a-z0-9]+)_(?P<field>[a-z_]+)$")


def check_basis(basis: str) -> None:
    if basis not in BASES:
        raise ConfigError(f"--basis: unknown basis '{basis}'", f"use one of: {', '.join(BASES)}")


def study_throughput(s: RunSummary, external: External | None = None) -> float | None:
    """The study's own tokens/s for an imported run (None for measured runs)."""
    ext = (external or {}).get(s.run_id)
    if ext is None:
        ext = getattr(s, "external", None) or {}
    for key in STUDY_KEYS:
        v = ext.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
    return None


def throughput(s: RunSummary, basis: str = "deploybench", external: External | None = None) -> float | None:
    if basis == "deploybench":
        if "output_throughput_tok_s" in s.missing:  # an imported cell whose source gives none
            return None
        return s.output_throughput_tok_s if s.completed > 0 or "requests" in s.missing else None
    v = study_throughput(s, external)
    if v is None:
        raise ConfigError(f"--basis study: run '{s.run_id}' has no study throughput figure "
                          "(external['study_throughput_tok_s'])",
                          "use --basis deploybench, or only runs imported with `deploybench import-seed`")
    return v


def cost(s: RunSummary, basis: str = "deploybench", external: External | None = None) -> float | None:
    """Dollars per 1M output tokens (None without a price or throughput)."""
    if basis == "deploybench" and s.cost_per_1m_tokens is not None:
        return s.cost_per_1m_tokens
    tput = throughput(s, basis, external)
    return None if tput is None else cost_per_1m(s.price_per_hour, tput)


def minutes(s: RunSummary, basis: str = "deploybench", external: External | None = None) -> float | None:
    if basis == "deploybench" and s.minutes_per_1m_tokens is not None:
        return s.minutes_per_1m_tokens
    tput = throughput(s, basis, external)
    return None if tput is None else minutes_per_1m(tput)


def why_missing(s: RunSummary, metric: str) -> str:
    """Why a cell has no value for a rule's ``metric`` (cost_per_1m_tokens, output_throughput_tok_s, p50_<figure>,
    or a constraint's ``<stat>_<field>``): what a rule prints per cell it could not judge."""
    source = s.labels.get("tool") or s.labels.get("source")
    not_given = f"{source} does not give it" if source else "not measured"
    if metric == "cost_per_1m_tokens":
        if s.price_per_hour is None:
            return "no price (give --price-per-hour, or --hardware with a catalog name)"
        metric = "output_throughput_tok_s"
    if metric == "output_throughput_tok_s":
        return f"no output throughput ({not_given})" if metric in s.missing else "no output throughput (no request completed)"
    field = metric.split("_", 1)[1] if _LAT.match(metric) else metric
    if field in s.missing or s.labels.get("data") == "summary-only":
        return f"no {metric} ({not_given})"
    return f"no {metric} (no successful request)"


def ms_per_token_figure(cells: Sequence[RunSummary]) -> str:
    """The one ms/token figure a set of cells is ranked on: the client's (``ms_per_token``) when any
    cell has it, else the server's (``server_ms_per_token``, imported data)."""
    if any(s.ms_per_token.p50 is not None for s in cells) or not any(_server(s).p50 is not None for s in cells):
        return "ms_per_token"
    return "server_ms_per_token"


def _server(s: RunSummary):
    return getattr(s, "server_ms_per_token", None) or Dist()


def median_ms_per_token(s: RunSummary, figure: str | None = None) -> float | None:
    """Median of ``figure`` (see :data:`MS_PER_TOKEN_FIGURES`); without one, the figure this cell has."""
    figure = figure or ms_per_token_figure([s])
    return (s.ms_per_token if figure == "ms_per_token" else _server(s)).p50


def parse_latency(spec: str) -> tuple[str, str]:
    """``"p90_ttft_ms"`` -> ``("p90", "ttft_ms")``; ConfigError names the allowed forms."""
    m = _LAT.match(spec.strip())
    if not m or m["stat"] not in STATS or m["field"] not in DIST_FIELDS:
        raise ConfigError(f"--latency: cannot read '{spec}'",
                          f"write <stat>_<metric> with stat one of {', '.join(STATS)} and metric one of "
                          f"{', '.join(DIST_FIELDS)}, e.g. p50_ms_per_token")
    return m["stat"], m["field"]


def latency(s: RunSummary, stat: str, field: str) -> float | None:
    return getattr(getattr(s, field), stat)


def group_of(s: RunSummary) -> str:
    """Recommendations are made per model: ``labels["model"]`` (``"all"`` when unlabelled)."""
    return s.labels.get("model") or "all"


def group_order(name: str) -> tuple:
    """Natural order of model-size labels: 7B < 13B < 70B, then by name."""
    m = re.match(r"^(\d+(?:\.\d+)?)", name)
    return (0, float(m.group(1)), name) if m else (1, 0.0, name)


class CellRef(BaseModel):
    """Which cell a ranked figure belongs to: its run, deployment, level and the labels that name it."""

    run_id: str
    deployment: str
    concurrency: int
    hardware: str | None = None
    quantization: str | None = None


def cell_ref(s: RunSummary) -> dict[str, Any]:
    """:class:`CellRef`'s fields of a summary."""
    return {"run_id": s.run_id, "deployment": s.deployment, "concurrency": s.concurrency,
            "hardware": s.labels.get("hardware"), "quantization": s.labels.get("quantization")}
