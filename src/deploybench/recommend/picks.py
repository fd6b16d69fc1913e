"""The 2023 study's three recommendation rules, applied exactly, plus an SLO-constrained pick."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field, computed_field

from ..metrics import Constraint
from ..metrics.capacity import max_rate_within_slo, nominal_rps
from ..metrics.rounds import combine_all, compare_cells
from ..schemas import ConfigError, Interval, RunSummary
from . import figures as fig

INTERVAL_KEY = {"cost_per_1m_tokens": "cost_per_1m_tokens", "p50_ms_per_token": "ms_per_token.p50",
                "output_throughput_tok_s": "output_throughput_tok_s"}
"""Which stored interval judges a tie, per pick metric (measured cells only)."""
SKIP_FLAGS = ("client-lag", "contended")
"""Cells carrying these flags never win a pick (they are listed instead)."""
MAX_ERROR_RATE = 0.01

TIE_REL = 0.02
"""Relative difference below which pick and runner-up count as tied (within measurement noise).

Why 2 %: the study re-ran Llama-2-7b-hf on ml.g5.2xlarge at every load level with the same
method (seed-data ``superseded/96e30d2`` and ``7344984``); the repeats differ from the published
runs by 0.01-1.3 % in median ms/token and 0.2-2.4 % in the study's throughput. A margin under
that spread is called a tie: the rule still names one cell, but the data cannot separate them.
Caveat: on imported data the deploybench-basis throughput is a request count over 90 s, and
the counts of those repeats differ by 0.7-9 %, so treat small deploybench-basis cost or
throughput margins on imported runs with more caution (or raise ``tie_threshold``). Runs with
per-request records allow a sharper test (bootstrap intervals in ``report.compare``).
"""


@dataclass(frozen=True)
class Rule:
    scenario: str
    level: int
    metric: str
    unit: str
    lower_is_better: bool
    text: str


RULES: dict[str, Rule] = {
    "cost": Rule("cost", 5, "cost_per_1m_tokens", "$/1M tokens", True, "lowest cost per 1M output tokens"),
    "latency": Rule("latency", 1, "p50_ms_per_token", "ms/token", True, "lowest median ms/token"),
    "throughput": Rule("throughput", 20, "output_throughput_tok_s", "tokens/s", False, "highest output tokens/s"),
}
SCENARIOS = (*RULES, "capacity")


class Contender(fig.CellRef):
    """A cell that competed for a pick, with the figure it was judged on."""

    value: float


class Pick(BaseModel):
    """One recommendation for one model: the chosen cell, why, and by how much."""

    scenario: str
    group: str = Field(description="the model (labels['model'])")
    basis: str = "deploybench"
    run_id: str | None = None
    deployment: str | None = None
    concurrency: int | None = None
    hardware: str | None = None
    quantization: str | None = None
    tp: str | None = None
    metric: str
    unit: str = ""
    value: float | None = None
    ms_per_token_p50: float | None = None
    ms_per_token_figure: str | None = Field(None, description="which ms/token ms_per_token_p50 is (figures.MS_PER_TOKEN_FIGURES)")
    tokens_per_s: float | None = None
    price_per_hour: float | None = None
    minutes_per_1m_tokens: float | None = None
    cost_per_1m_tokens: float | None = None
    rule: str
    runner_up: Contender | None = None
    margin: float | None = Field(None, description="|runner-up - pick| / |pick|")
    tie: bool = False
    tied_with: list[str] = Field(default_factory=list, description="run_ids that cannot be told apart from the pick")
    tie_rule: str = Field("", description="how a tie was decided: the comparison test (paired over rounds, or "
                          "within-run intervals for a single round), or the fixed margin")
    interval: Interval | None = Field(None, description="95 % interval of the pick's figure")
    skipped: list[str] = Field(default_factory=list, description="cells left out, with why (flags, errors)")
    rate_rps: float | None = Field(None, description="capacity: the highest offered rate meeting the SLO")
    candidates: int = 0
    slo: list[str] = Field(default_factory=list)
    note: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def margin_text(self) -> str:
        if self.runner_up is None or self.margin is None:
            return "no runner-up"
        worse = "higher" if RULES.get(self.scenario, RULES["cost"]).lower_is_better or self.slo else "lower"
        word = "tie: " if self.tie else ""
        return (f"{word}runner-up {self.runner_up.deployment} @ c={self.runner_up.concurrency} is "
                f"{self.margin:.1%} {worse} ({_num(self.runner_up.value)} vs {_num(self.value)} {self.unit})")


    def left_out_here(self) -> list[str]:
        """The ``skipped`` cells at the pick's own level (the rivals it was not judged against)."""
        level = (self.run_id or "").rpartition("__")[2]
        return [x for x in self.skipped if level and x.split(": ", 1)[0].endswith(f"__{level}")]


def _num(v: float | None) -> str:
    return "—" if v is None else f"{v:.4g}" if abs(v) < 1000 else f"{v:,.0f}"


def _nearest(levels: set[int], target: int) -> int:
    return min(levels, key=lambda lv: (abs(lv - target), lv))


def _judge(cells: list[RunSummary], value: Callable[[RunSummary], float | None],
           lower_is_better: bool) -> list[tuple[float, RunSummary]]:
    scored = [(v, s) for s in cells if (v := value(s)) is not None]
    sign = 1 if lower_is_better else -1
    return sorted(scored, key=lambda vs: (sign * vs[0], vs[1].deployment, vs[1].run_id))


def _contender(v: float, s: RunSummary) -> Contender:
    return Contender(**fig.cell_ref(s), value=v)


def _rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b else (0.0 if a == b else float("inf"))


def _pick(scenario: str, group: str, basis: str, metric: str, unit: str, rule_text: str,
          ranked: list[tuple[float, RunSummary]], n_cells: int, tie_threshold: float,
          external: fig.External | None, lower_is_better: bool = True) -> Pick:
    base = dict(scenario=scenario, group=group, basis=basis, metric=metric, unit=unit, rule=rule_text,
                candidates=len(ranked))
    if not ranked:
        return Pick(**base, note=f"no cell qualifies ({n_cells} considered)")
    value, s = ranked[0]
    runner = _contender(*ranked[1]) if len(ranked) > 1 else None
    margin = _rel(runner.value, value) if runner else None
    key = INTERVAL_KEY.get(metric) if basis == "deploybench" else None
    iv = s.intervals.get(key) if key else None
    if key and (iv is not None or s.round_values):  # measured cells: a comparison test per contender
        verdicts = [(r, compare_cells(s, r, key, lower_is_better)) for _, r in ranked[1:]]
        tied = [r.run_id for r, vd in verdicts if vd is None or not vd.clear]
        methods = sorted({vd.method for _, vd in verdicts if vd is not None})
        how = "a comparison test at 95 % confidence: " + ("; ".join(methods) or "none possible")
    else:  # imported aggregates have no intervals: the fixed margin
        tied = [r.run_id for v, r in ranked[1:] if _rel(v, value) < tie_threshold]
        how = f"within {tie_threshold:.0%} (no intervals: fixed margin)"
    note = (f"tie: {len(tied)} other cell(s) cannot be told apart ({how}); to separate them measure more "
            "rounds (--rounds 5) or longer rounds (raise load.min_duration_s)") if tied else None
    return Pick(**base, note=note, tie_rule=how, interval=iv, run_id=s.run_id, deployment=s.deployment, concurrency=s.concurrency,
                hardware=s.labels.get("hardware"), quantization=s.labels.get("quantization"),
                tp=s.labels.get("tp"), value=value, ms_per_token_p50=fig.median_ms_per_token(s),
                ms_per_token_figure=fig.ms_per_token_figure([s]),
                tokens_per_s=fig.throughput(s, basis, external), price_per_hour=s.price_per_hour,
                minutes_per_1m_tokens=fig.minutes(s, basis, external),
                cost_per_1m_tokens=fig.cost(s, basis, external), runner_up=runner, margin=margin,
                tie=bool(tied), tied_with=tied)


def _value_fn(rule: Rule, basis: str, external: fig.External | None) -> Callable[[RunSummary], float | None]:
    if rule.scenario == "cost":
        return lambda s: fig.cost(s, basis, external)
    if rule.scenario == "latency":
        return fig.median_ms_per_token
    return lambda s: fig.throughput(s, basis, external)


def _basis_note(rule: Rule, basis: str) -> str:
    if basis != "study" or rule.scenario == "latency":
        return ""
    return " (throughput: the study's own published figure)"


def _by_rule(rule: Rule, group: str, cells: list[RunSummary], basis: str, tie_threshold: float,
             external: fig.External | None) -> Pick:
    cells = [s for s in cells if s.level_kind == "closed"]  # the 2023 rules are defined on closed levels
    if not cells:
        return Pick(scenario=rule.scenario, group=group, basis=basis, metric=rule.metric, unit=rule.unit,
                    rule=f"{rule.text} at concurrency {rule.level} (closed loop), per model",
                    note="no closed-loop cells: the 2023 rules are defined on closed levels (try --scenario capacity)")
    level = _nearest({s.concurrency for s in cells}, rule.level)
    where = f"at concurrency {level}"
    if level != rule.level:
        where += f" (nearest measured level: this study has no concurrency {rule.level})"
    text = f"{rule.text} {where}, per model{_basis_note(rule, basis)}"
    at_level = [s for s in cells if s.concurrency == level]
    value, metric = _value_fn(rule, basis, external), rule.metric
    if rule.scenario == "latency":  # one ms/token figure per ranking, named in the rule
        figure = fig.ms_per_token_figure(at_level)
        value, metric = (lambda s: fig.median_ms_per_token(s, figure)), f"p50_{figure}"
        text += f" ({fig.MS_PER_TOKEN_FIGURES[figure]})"
    ranked = _judge(at_level, value, rule.lower_is_better)
    pick = _pick(rule.scenario, group, basis, metric, rule.unit, text, ranked, len(at_level),
                 tie_threshold, external, rule.lower_is_better)
    pick.skipped = _lacking(at_level, value, metric)
    return pick


def _lacking(cells: list[RunSummary], value: Callable[[RunSummary], float | None], metric: str) -> list[str]:
    """The cells a rule could not judge, each with why (a figure its source does not give, no price, ...)."""
    return [f"{s.run_id}: {fig.why_missing(s, metric)}" for s in cells if value(s) is None]


def _by_slo(scenario: str, group: str, cells: list[RunSummary], slo: list[Constraint], basis: str,
            tie_threshold: float, external: fig.External | None) -> Pick:
    names = [str(c) for c in slo]
    ok = [s for s in cells if all(c.met_by_summary(s) for c in slo)]
    no_data = _no_data(cells, slo)
    note = _basis_note(RULES["cost"], basis)
    text = (f"lowest cost per 1M output tokens among cells at any concurrency meeting {', '.join(names)}, "
            f"per model{note}")
    ranked = _judge(ok, lambda s: fig.cost(s, basis, external), True)
    pick = _pick(scenario, group, basis, "cost_per_1m_tokens", "$/1M tokens", text, ranked, len(cells),
                 tie_threshold, external)
    pick.slo = names
    pick.skipped = no_data + _lacking(ok, lambda s: fig.cost(s, basis, external), "cost_per_1m_tokens")
    if not ranked:
        pick.note = (f"no cell meets the SLO ({len(ok)} of {len(cells)} meet it, none of those priced)"
                     if ok else f"none of {len(cells)} cells meets the SLO (a cell without data for a "
                     "constrained figure does not meet it)")
    return pick


def _no_data(cells: list[RunSummary], slo: list[Constraint]) -> list[str]:
    """Cells an SLO cannot be checked on: a constrained figure their source does not give."""
    return [f"{s.run_id}: {fig.why_missing(s, f'{c.stat}_{c.metric}' if c.stat else c.metric)} (cannot be "
            f"checked against {c})" for s in cells for c in slo if c.observed(s) is None]


def _by_capacity(group: str, cells: list[RunSummary], slo: list[Constraint], basis: str, tie_threshold: float,
                 external: fig.External | None) -> Pick:
    """Per deployment its highest open-loop rate within the SLO; the pick is the cheapest per 1M tokens there."""
    best = max_rate_within_slo(cells, slo)
    names = [str(c) for c in slo]
    text = (f"lowest cost per 1M output tokens at each deployment's highest open-loop rate meeting "
            f"{', '.join(names)} (kept up with, <= 1 % errors), per model")
    ranked = _judge(list(best.values()), lambda s: fig.cost(s, basis, external), True)
    pick = _pick("capacity", group, basis, "cost_per_1m_tokens", "$/1M tokens", text, ranked, len(cells),
                 tie_threshold, external)
    pick.slo = names
    pick.skipped = _no_data([s for s in cells if s.level_kind == "rate"], slo)
    if pick.run_id:
        pick.rate_rps = nominal_rps(next(s for _, s in ranked if s.run_id == pick.run_id))
    elif not any(s.level_kind == "rate" for s in cells):
        pick.note = "no open-loop rate cells: run a rate sweep (--sweep --slo ...) or --rate levels"
    elif not best:
        pick.note = "no rate cell meets the SLO"
    return pick


def skip_reason(s: RunSummary, max_error_rate: float = MAX_ERROR_RATE) -> str | None:
    """Why a cell may not win a pick (None: it may)."""
    bad = [f for f in SKIP_FLAGS if f in s.flags]
    if bad:
        return "flagged " + ", ".join(bad)
    if s.requests and s.error_rate > max_error_rate:
        return f"error rate {s.error_rate:.1%} above {max_error_rate:.0%}"
    return None


def recommend(summaries: Sequence[RunSummary], scenario: str, slo: Sequence[Constraint] | None = None,
              basis: str = "deploybench", external: fig.External | None = None,
              tie_threshold: float = TIE_REL, max_error_rate: float = MAX_ERROR_RATE) -> list[Pick]:
    """One :class:`Pick` per model (``labels["model"]``), in model-size order.

    Rules (the 2023 study's, applied exactly): ``cost`` = at concurrency 5 the lowest cost per 1M
    output tokens; ``latency`` = at concurrency 1 the lowest median ms/token; ``throughput`` = at
    concurrency 20 the highest output tokens/s. A model without that level uses its nearest
    measured level (the lower one on a tie) and the rule text says so. With ``slo``, the pick is
    the cheapest per 1M tokens among cells at any concurrency meeting every constraint.

    ``basis="study"`` judges throughput and cost on the study's own throughput figure
    (``external[run_id]["study_throughput_tok_s"]``, or a summary's ``external`` attribute).
    ``margin`` is the runner-up's relative distance from the pick. A cell with intervals is a clear
    winner only over contenders it beats in a comparison test at 95 % confidence: paired over the
    rounds both have (per-round log ratios, :func:`deploybench.metrics.rounds.paired`), or with one
    round a z test on the two within-run intervals; every other contender is ``tied_with`` it. For
    imported cells without intervals, a margin below ``tie_threshold`` is a tie (see :data:`TIE_REL`).
    Cells flagged ``client-lag`` or ``contended``, or with an error rate above ``max_error_rate``,
    never win; each pick lists them in ``skipped``. Rounds of a cell are combined first
    (:func:`deploybench.metrics.rounds.combine`).
    """
    if scenario not in SCENARIOS:
        raise ConfigError(f"--scenario: unknown scenario '{scenario}'", f"use one of: {', '.join(SCENARIOS)}")
    if scenario == "capacity" and not slo:
        raise ConfigError("--scenario capacity needs an SLO", 'add e.g. --slo "p90_ttft_ms<=500"')
    fig.check_basis(basis)
    if not 0 <= tie_threshold < 1:
        raise ConfigError(f"tie threshold {tie_threshold} is out of range", "use a fraction, e.g. 0.02 for 2%")
    groups: dict[str, list[RunSummary]] = {}
    skipped: dict[str, list[str]] = {}
    for s in combine_all(summaries):  # rounds of a cell -> one cell (stored studies arrive combined)
        why = skip_reason(s, max_error_rate)
        if why:
            skipped.setdefault(fig.group_of(s), []).append(f"{s.run_id}: {why}")
        else:
            groups.setdefault(fig.group_of(s), []).append(s)
    picks = []
    for group in sorted(set(groups) | set(skipped), key=fig.group_order):
        cells = groups.get(group, [])
        if scenario == "capacity":
            pick = _by_capacity(group, cells, list(slo), basis, tie_threshold, external)
        elif slo:
            pick = _by_slo(scenario, group, cells, list(slo), basis, tie_threshold, external)
        elif cells:
            pick = _by_rule(RULES[scenario], group, cells, basis, tie_threshold, external)
        else:
            rule = RULES[scenario]
            pick = Pick(scenario=scenario, group=group, basis=basis, metric=rule.metric, unit=rule.unit,
                        rule=rule.text, note="every cell of this model was skipped")
        pick.skipped = skipped.get(group, []) + pick.skipped
        picks.append(pick)
    return picks
