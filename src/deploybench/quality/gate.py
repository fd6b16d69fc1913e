"""Quality limits for picks: ``--max-quality-loss "kld<=0.05,ppl<=+2%,top1>=95%"`` (pure, no I/O).

* ``kld<=X``: mean KL divergence from the baseline, nats per token;
* ``ppl<=+X%``: perplexity at most X % above the baseline's (``ppl<=X``: absolute perplexity);
* ``top1>=X%``: share of tokens whose most likely next token is the baseline's;
* ``match>=X%`` / ``exact>=X%``: greedy-output agreement with the reference (token / exact match).

A deployment without the figure a limit names does not meet it (it is excluded, and the reason says so).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..schemas import ConfigError, RunSummary
from ..schemas.quality import QualityResult, QualityTable

EXAMPLE = '--max-quality-loss "kld<=0.05,ppl<=+2%,top1>=95%"'
# key -> (QualityResult field, allowed operator, what it is)
KEYS = {
    "kld": ("kld", "<=", "mean KLD"),
    "ppl": ("perplexity", "<=", "perplexity"),
    "top1": ("top1_agreement", ">=", "top-token agreement"),
    "match": ("token_match", ">=", "greedy token match"),
    "exact": ("exact_match", ">=", "greedy exact match"),
}
_ITEM = re.compile(r"^\s*([a-z0-9_]+)\s*(<=|>=)\s*([+]?)\s*([0-9]*\.?[0-9]+(?:[eE][-+]?\d+)?)\s*(%?)\s*$")


@dataclass(frozen=True)
class QualityLimit:
    key: str
    op: str
    value: float  # kld in nats; shares and relative ppl change as fractions; absolute ppl as is
    relative: bool = False  # ppl only: a change against the baseline

    def __str__(self) -> str:
        if self.key == "kld":
            return f"kld<={self.value:g}"
        if self.key == "ppl":
            return f"ppl<=+{self.value * 100:g}%" if self.relative else f"ppl<={self.value:g}"
        return f"{self.key}>={self.value * 100:g}%"

    def measured(self, r: QualityResult) -> float | None:
        if self.key == "ppl" and self.relative:
            return r.perplexity_change
        return getattr(r, KEYS[self.key][0])

    def check(self, r: QualityResult | None) -> str | None:
        """None when ``r`` meets the limit, else why not (one short phrase)."""
        what = KEYS[self.key][2]
        v = None if r is None else self.measured(r)
        if v is None:
            return f"no {what} measured" + (f" (method {r.method})" if r is not None else "")
        ok = v <= self.value if self.op == "<=" else v >= self.value
        return None if ok else f"{what} {self._show(v)} {'>' if self.op == '<=' else '<'} {self._show(self.value)}"

    def _show(self, v: float) -> str:
        if self.key == "kld":
            return f"{v:.4f}"
        if self.key == "ppl" and not self.relative:
            return f"{v:.3f}"
        return f"{v * 100:+.2f}%" if self.key == "ppl" else f"{v * 100:.1f}%"


def parse(spec: str | None) -> list[QualityLimit]:
    """``"kld<=0.05,ppl<=+2%,top1>=95%"`` -> limits; a ConfigError naming the item and the fix."""
    if spec is None or not spec.strip():
        return []
    out = []
    for item in spec.split(","):
        m = _ITEM.match(item.lower())
        if not item.strip():
            continue
        if not m or m.group(1) not in KEYS:
            raise ConfigError(f"--max-quality-loss: cannot read '{item.strip()}'",
                              f"use kld<=N, ppl<=+N% (or ppl<=N), top1>=N%, match>=N%, exact>=N%, e.g. {EXAMPLE}")
        key, op, plus, num, pct = m.groups()
        if op != KEYS[key][1]:
            raise ConfigError(f"--max-quality-loss: '{item.strip()}' limits {key} the wrong way",
                              f"write {key}{KEYS[key][1]}N (e.g. {EXAMPLE})")
        value = float(num) / 100 if pct else float(num)
        if key in ("top1", "match", "exact") and not pct and value > 1:
            raise ConfigError(f"--max-quality-loss: '{item.strip()}' is above 100%", f"write e.g. {key}>=95%")
        out.append(QualityLimit(key, op, value, relative=key == "ppl" and bool(pct or plus)))
    return out


@dataclass
class Exclusion:
    deployment: str
    cells: int
    reasons: list[str]

    def line(self) -> str:
        return f"excluded {self.deployment} ({self.cells} cells): {'; '.join(self.reasons)}"


def apply(summaries: Sequence[RunSummary], table: QualityTable | None, limits: Sequence[QualityLimit],
          missing: str | Callable[[RunSummary], str] = "no quality data"
          ) -> tuple[list[RunSummary], list[Exclusion]]:
    """Split ``summaries`` into those whose deployment meets every limit and the exclusions (one per
    deployment, with every limit it misses). ``missing`` explains a deployment absent from ``table``
    (a text, or a function of the summary)."""
    if not limits:
        return list(summaries), []
    kept: list[RunSummary] = []
    excluded: dict[str, Exclusion] = {}
    for s in summaries:
        r = table.for_deployment(s.deployment) if table else None
        if r is None:
            reasons = [missing(s) if callable(missing) else missing]
        else:
            reasons = [why for lim in limits if (why := lim.check(r))]
        if not reasons:
            kept.append(s)
            continue
        ex = excluded.setdefault(s.deployment, Exclusion(s.deployment, 0, reasons))
        ex.cells += 1
    return kept, sorted(excluded.values(), key=lambda e: e.deployment)
