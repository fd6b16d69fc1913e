"""Rounds: one combined cell from all rounds' requests, intervals over rounds that hold on a drifting
host, and paired picks that never name the worse deployment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deploybench.metrics import core, summarize
from deploybench.metrics.rounds import combine, combine_all, paired, unpaired
from deploybench.recommend import recommend
from deploybench.schemas import DEFAULT_ROUNDS, LoadConfig
from tests.unit.test_intervals import closed_loop, meta


def _round(trial: int, itl_ms: float, seconds: float, dep: str = "a", price: float = 2.0, seed: int = 1):
    recs = closed_loop(2, seconds, 40, itl_ms, seed=seed + trial, noise=0.05)
    m = meta(run_id=f"{dep}__c2" + (f"__t{trial}" if trial > 1 else ""), deployment=dep, concurrency=2,
             price_per_hour=price, trial=trial, labels={"model": "m"}, level={"kind": "closed", "users": 2, "key": "c2"},
             window_start_ns=0, window_end_ns=int(seconds * 1e9))
    return summarize(recs, m), recs


def test_combined_cell_pools_requests_and_windows():
    rounds = [_round(1, 10, 3.0), _round(2, 14, 5.0), _round(3, 11, 4.0)]
    c = combine(rounds)
    recs = [r for _, rs in rounds for r in rs]
    # percentiles over the pooled requests, not a mean of the rounds' percentiles
    ttft = [v for r in core.measured(recs) if (v := core.ttft_ms(r)) is not None]
    assert c.ttft_ms.p50 == pytest.approx(float(np.percentile(ttft, 50)))
    assert c.tpot_ms.p90 == pytest.approx(float(np.percentile(core.collect(core.tpot_ms(r) for r in recs), 90)))
    mean_p50 = sum(s.ttft_ms.p50 for s, _ in rounds) / 3
    assert c.ttft_ms.p50 != pytest.approx(mean_p50, rel=1e-9)
    # throughput = tokens inside the windows / summed windows; cost = price / that throughput
    tokens = sum(s.output_throughput_tok_s * s.window_s for s, _ in rounds)
    assert c.window_s == pytest.approx(12.0)
    assert c.output_throughput_tok_s == pytest.approx(tokens / 12.0)
    assert c.cost_per_1m_tokens == pytest.approx(2.0 * 1e6 / (tokens / 12.0) / 3600)
    assert c.requests == sum(s.requests for s, _ in rounds) and c.trials == 3 and c.rounds == [1, 2, 3]
    # the interval: t over the rounds' log figures (2 df), centred on the pooled figure
    logs = np.log([s.output_throughput_tok_s for s, _ in rounds])
    half = 4.302653 * logs.std(ddof=1) / math.sqrt(3)
    iv = c.intervals["output_throughput_tok_s"]
    assert iv.lo == pytest.approx(c.output_throughput_tok_s * math.exp(-half), rel=1e-5)
    assert iv.hi == pytest.approx(c.output_throughput_tok_s * math.exp(half), rel=1e-5)
    cost = c.intervals["cost_per_1m_tokens"]  # price / throughput: the ends swap
    assert cost.lo == pytest.approx(2.0 * 1e6 / iv.hi / 3600, rel=1e-5)
    assert cost.hi == pytest.approx(2.0 * 1e6 / iv.lo / 3600, rel=1e-5)
    assert "3 rounds" in iv.method


def test_a_single_round_is_itself_and_summaries_alone_still_combine():
    (s, recs), = [_round(1, 10, 3.0)]
    assert combine([(s, recs)]) is s
    rounds = [_round(1, 10, 3.0), _round(2, 12, 3.0)]
    (c,) = combine_all([s for s, _ in rounds])
    assert c.trials == 2 and "round means" in c.intervals["ttft_ms.p50"].method
    assert c.output_throughput_tok_s == pytest.approx(sum(s.output_throughput_tok_s for s, _ in rounds) / 2)


def test_rounds_have_one_fixed_default_and_trials_is_an_alias():
    assert LoadConfig().rounds == DEFAULT_ROUNDS
    assert LoadConfig(trials=5).rounds == 5 and LoadConfig(rounds=2).trials == 2


# --------------------------------------------------------------------------- a host that drifts


def _telegraph(rng, seconds: float, dt: float, speeds=(1.0, 0.6), dwell_s: float = 3.0) -> np.ndarray:
    """A host switching between two speeds 40 % apart, each kept for an exponential time (mean ``dwell_s``)."""
    out, state, i = np.empty(int(seconds / dt) + 1), int(rng.integers(2)), 0
    while i < out.size:
        k = int(rng.exponential(dwell_s) / dt) + 1
        out[i:i + k] = speeds[state]
        state, i = 1 - state, i + k
    return out


TRUE = {"a": 100.0, "b": 115.0}  # tok/s on an idle host: b is 15 % better
CELLS, WINDOW_S, DT = 8, 1.0, 0.05


def _drifting_study(rng, rounds: int, pair: bool = True):
    """Per-round summaries of deployments a and b at one level, laid out as interleaved rounds are:
    each round, every cell once; a and b back to back at a random place in the round."""
    template, _ = _round(1, 10, 2.0)
    speed = _telegraph(rng, rounds * CELLS * WINDOW_S + 10, DT)
    out = []
    for rnd in range(1, rounds + 1):
        start = (rnd - 1) * CELLS * WINDOW_S + int(rng.integers(0, CELLS - 1)) * WINDOW_S
        first = rnd % 2 == 0
        for dep, offset in (("a", 0.0 if first else WINDOW_S), ("b", WINDOW_S if first else 0.0)):
            if not pair:  # breaks the pairing: b measured in another part of the study
                offset += float(rng.integers(0, rounds * CELLS)) * WINDOW_S - start
            t0 = max(0.0, start + offset)
            host = float(speed[int(t0 / DT):int((t0 + WINDOW_S) / DT)].mean())
            tput = TRUE[dep] * host * math.exp(rng.normal(0, 0.03))
            out.append(template.model_copy(update={
                "run_id": f"{dep}__c5" + (f"__t{rnd}" if rnd > 1 else ""), "deployment": dep, "trial": rnd,
                "concurrency": 5, "level": "c5", "window_s": WINDOW_S, "output_throughput_tok_s": tput,
                "request_throughput_rps": tput / 20, "cost_per_1m_tokens": 1e6 / tput / 3600,
                "price_per_hour": 1.0, "intervals": {}, "flags": []}))
    return out, float(np.mean(speed))


def test_intervals_over_rounds_cover_the_truth_on_a_drifting_host():
    rng = np.random.default_rng(20261207)
    covered, widths, spreads = 0, [], []
    reps = 60
    for _ in range(reps):
        cells, host_mean = _drifting_study(rng, DEFAULT_ROUNDS)
        (a, _b) = combine_all(cells)
        iv = a.intervals["output_throughput_tok_s"]
        truth = TRUE["a"] * host_mean  # the long-run throughput on this host
        covered += iv.lo <= truth <= iv.hi
        widths.append((iv.hi - iv.lo) / 2 / truth)
        spreads.append(np.std([s.output_throughput_tok_s for s in cells if s.deployment == "a"], ddof=1) / truth)
    coverage = covered / reps
    print(f"coverage {coverage:.0%}, median half-width {np.median(widths):.1%}, round spread {np.median(spreads):.1%}")
    assert 0.85 <= coverage <= 0.99
    # not made wide to pass: the median half-width is within 3x the spread of a round's figure
    assert np.median(widths) <= 3 * np.median(spreads)


def _verdicts(pair: bool, reps: int = 60, rounds: int = 8):
    rng = np.random.default_rng(7)
    picks = []
    for _ in range(reps):
        cells, _ = _drifting_study(rng, rounds, pair)
        (p,) = recommend(cells, "throughput")
        picks.append(("tie" if p.tie else p.deployment))
    return picks


def test_paired_picks_pick_the_better_deployment_or_tie_never_the_worse():
    picks = _verdicts(pair=True)
    print({k: picks.count(k) for k in set(picks)})
    assert "a" not in picks  # never the worse one, called clear
    assert picks.count("b") >= len(picks) // 3  # and the pairing has the power to say so


def test_without_pairing_the_drift_hides_the_difference():
    """The same data, b moved to another part of the study: the per-round ratios carry the host's drift,
    and the test (rightly) can no longer tell them apart as often."""
    paired_clear = _verdicts(pair=True).count("b")
    unpaired_clear = _verdicts(pair=False).count("b")
    assert unpaired_clear < paired_clear / 2, (paired_clear, unpaired_clear)


def test_paired_and_unpaired_tests_by_hand():
    template, _ = _round(1, 10, 2.0)

    def cell(dep, values):
        return template.model_copy(update={"deployment": dep, "rounds": [1, 2, 3, 4],
                                           "round_values": {"output_throughput_tok_s": values}})

    a = cell("a", [100.0, 60.0, 100.0, 60.0])  # the host's drift, common to both
    b = cell("b", [110.0, 66.0, 111.0, 65.0])
    v = paired(b, a, "output_throughput_tok_s", lower_is_better=False)
    d = np.log(np.array([110, 66, 111, 65]) / np.array([100, 60, 100, 60]))
    half = 3.182446 * d.std(ddof=1) / 2
    assert v.clear and v.ratio == pytest.approx(math.exp(d.mean()))
    assert v.lo == pytest.approx(math.exp(d.mean() - half), rel=1e-5)
    # two studies cannot be paired: the same values, unpaired, carry the drift and cannot separate them
    assert not unpaired(b, a, "output_throughput_tok_s", lower_is_better=False).clear
    # and the worse one is never clear
    assert not paired(a, b, "output_throughput_tok_s", lower_is_better=False).clear
