"""Recommendations: the 2023 rules, margins and ties, SLO filtering, bases, Pareto, seed tables."""

import json

import pytest

from deploybench import api
from deploybench.metrics import cost_per_1m, minutes_per_1m
from deploybench.metrics.slo import parse
from deploybench.recommend import Pick, front, pareto, recommend
from deploybench.recommend.pareto import ParetoPoint
from deploybench.schemas import ConfigError, Dist, RunSummary
from deploybench.seed import import_seed, load_external
from tests.conftest import seed_dir

SEED = seed_dir()


def mk(dep: str, conc: int, ms: float, tput: float, price: float | None = 1.0, model: str = "7B",
       quant: str = "none", ttft_p90: float | None = None) -> RunSummary:
    """A synthetic summary: ``ms`` = median ms/token, ``tput`` = output tokens/s."""
    return RunSummary(
        run_id=f"{dep}__c{conc}", deployment=dep, concurrency=conc, requests=10, completed=10, errors=0,
        error_rate=0.0, window_s=10.0, output_tokens=int(tput * 10), output_throughput_tok_s=tput,
        request_throughput_rps=1.0, ttft_ms=Dist(n=10, p50=ttft_p90, p90=ttft_p90) if ttft_p90 else Dist(),
        tpot_ms=Dist(), itl_ms=Dist(), e2e_ms=Dist(), ms_per_token=Dist(n=10, p50=ms), schedule_lag_ms=Dist(),
        price_per_hour=price, minutes_per_1m_tokens=minutes_per_1m(tput), cost_per_1m_tokens=cost_per_1m(price, tput),
        labels={"model": model, "quantization": quant, "hardware": dep.split("_")[0], "tp": "1"})


def grid() -> list[RunSummary]:
    """Two deployments per model at 1/5/20; 'big' is fast and pricey, 'small' slow and cheap."""
    out = []
    for model, k in (("70B", 4.0), ("7B", 1.0), ("13B", 2.0)):
        out += [mk(f"big_{model}", 1, 10 * k, 90 / k, 10, model), mk(f"small_{model}", 1, 20 * k, 45 / k, 1, model),
                mk(f"big_{model}", 5, 12 * k, 400 / k, 10, model), mk(f"small_{model}", 5, 30 * k, 150 / k, 1, model),
                mk(f"big_{model}", 20, 20 * k, 1000 / k, 10, model), mk(f"small_{model}", 20, 60 * k, 300 / k, 1, model),
                # a cheaper cell off the rule's level must not win the cost rule
                mk(f"tiny_{model}", 10, 90 * k, 400 / k, 0.1, model)]
    return out


# --------------------------------------------------------------------------- cost math


def test_cost_math_matches_the_published_tables():
    # the 2023 blog: 7B GPTQ g5.2xlarge 120.0941633 tok/s at $1.515/h -> 138.78 min, $3.50 per 1M tokens
    assert minutes_per_1m(120.0941633) == pytest.approx(138.78, abs=0.005)
    assert cost_per_1m(1.515, 120.0941633) == pytest.approx(3.504, abs=0.001)
    assert cost_per_1m(7.09, 61.45733054) == pytest.approx(32.05, abs=0.005)
    assert cost_per_1m(None, 100) is None and cost_per_1m(1.0, 0) is None


# --------------------------------------------------------------------------- the three rules


def test_rules_pick_per_model_at_their_level():
    by = {(p.scenario, p.group): p for sc in ("cost", "latency", "throughput") for p in recommend(grid(), sc)}
    for model in ("7B", "13B", "70B"):
        assert by[("cost", model)].deployment == f"small_{model}" and by[("cost", model)].concurrency == 5
        assert by[("latency", model)].deployment == f"big_{model}" and by[("latency", model)].concurrency == 1
        assert by[("throughput", model)].deployment == f"big_{model}" and by[("throughput", model)].concurrency == 20
    assert [p.group for p in recommend(grid(), "cost")] == ["7B", "13B", "70B"]


def test_pick_fields_margin_and_rule_text():
    [p] = recommend([s for s in grid() if s.labels["model"] == "7B"], "latency")
    assert p.value == 10 and p.ms_per_token_p50 == 10 and p.metric == "p50_ms_per_token"
    assert p.runner_up.deployment == "small_7B" and p.runner_up.value == 20
    assert p.margin == pytest.approx(1.0) and not p.tie and p.candidates == 2
    assert p.rule == "lowest median ms/token at concurrency 1, per model (client E2E / output tokens)"
    assert "100.0% higher" in p.margin_text
    [t] = recommend([s for s in grid() if s.labels["model"] == "7B"], "throughput")
    assert t.margin == pytest.approx(0.7)  # (1000 - 300) / 1000
    assert "lower" in t.margin_text and t.rule.startswith("highest output tokens/s at concurrency 20")
    [c] = recommend([s for s in grid() if s.labels["model"] == "7B"], "cost")
    assert c.cost_per_1m_tokens == pytest.approx(1.851852, abs=1e-6) and c.price_per_hour == 1  # 1e6/150/3600
    json.dumps([x.model_dump(mode="json") for x in (p, t, c)])  # JSON-ready


def server_cell(dep: str, conc: int, server_ms: float, tput: float) -> RunSummary:
    """An imported 2023 cell: TGI's server-side time per token, no client ms/token."""
    return mk(dep, conc, 0, tput).model_copy(update={"ms_per_token": Dist(), "server_ms_per_token": Dist(n=10, p50=server_ms)})


def test_client_and_server_ms_per_token_never_meet_in_one_ranking():
    measured, imported = mk("measured", 1, 30.0, 100), server_cell("imported", 1, 10.0, 100)
    [p] = recommend([measured, imported], "latency")
    # the imported cell's 10 ms is TGI inference time, not E2E / tokens: it does not compete
    assert p.deployment == "measured" and p.runner_up is None and p.candidates == 1
    assert p.metric == "p50_ms_per_token" and p.rule.endswith("(client E2E / output tokens)")
    [q] = recommend([imported, server_cell("other", 1, 12.0, 100)], "latency")
    assert q.deployment == "imported" and q.value == 10.0 and q.metric == "p50_server_ms_per_token"
    assert "server-side time per token" in q.rule and q.ms_per_token_figure == "server_ms_per_token"
    [c] = recommend([measured, imported], "cost")  # ms/token shown is the cell's own, named
    assert c.ms_per_token_figure in ("ms_per_token", "server_ms_per_token")
    assert {(x.deployment, x.latency_metric) for x in pareto([measured, imported])} == \
        {("measured", "p50_ms_per_token")}
    assert {x.latency_metric for x in pareto([imported, server_cell("other", 1, 12.0, 90)])} == \
        {"p50_server_ms_per_token"}


def test_tie_within_noise_and_not_beyond():
    cells = [mk("a", 1, 10.0, 100), mk("b", 1, 10.1, 100), mk("c", 1, 10.5, 100)]
    [p] = recommend(cells, "latency")
    assert p.deployment == "a" and p.tie and p.tied_with == ["b__c1"]
    assert p.margin == pytest.approx(0.01)
    [q] = recommend([cells[0], cells[2]], "latency")
    assert not q.tie and q.margin == pytest.approx(0.05)
    [r] = recommend([cells[0], cells[2]], "latency", tie_threshold=0.06)
    assert r.tie


def test_exact_tie_is_deterministic():
    a, b = mk("zeta", 1, 10.0, 100), mk("alpha", 1, 10.0, 100)
    assert recommend([a, b], "latency")[0].deployment == recommend([b, a], "latency")[0].deployment == "alpha"
    assert recommend([a, b], "latency")[0].tie and recommend([a, b], "latency")[0].margin == 0


def test_nearest_level_when_the_rule_level_is_missing():
    cells = [mk("a", 1, 10, 50), mk("b", 4, 12, 100, price=2), mk("a", 4, 15, 90), mk("b", 8, 20, 200)]
    [p] = recommend(cells, "cost")
    assert p.concurrency == 4 and p.deployment == "a"
    assert "at concurrency 4 (nearest measured level: this study has no concurrency 5)" in p.rule
    [t] = recommend(cells, "throughput")
    assert t.concurrency == 8 and "no concurrency 20" in t.rule
    [q] = recommend([mk("a", 4, 10, 50), mk("a", 6, 10, 50)], "cost")  # equidistant: the lower level
    assert q.concurrency == 4


def test_cells_without_price_cannot_win_cost():
    cells = [mk("free", 5, 10, 1000, price=None), mk("paid", 5, 10, 10, price=5)]
    [p] = recommend(cells, "cost")
    assert p.deployment == "paid" and p.candidates == 1 and p.runner_up is None and p.margin is None
    [n] = recommend([cells[0]], "cost")
    assert n.run_id is None and "no cell qualifies" in n.note


def test_unlabelled_runs_form_one_group():
    s = mk("x", 1, 10, 10)
    s.labels = {}
    assert recommend([s], "latency")[0].group == "all"


def test_bad_scenario_basis_threshold():
    with pytest.raises(ConfigError, match="unknown scenario 'speed'"):
        recommend(grid(), "speed")
    with pytest.raises(ConfigError, match="unknown basis"):
        recommend(grid(), "cost", basis="blog")
    with pytest.raises(ConfigError, match="tie threshold"):
        recommend(grid(), "cost", tie_threshold=2)


# --------------------------------------------------------------------------- SLO


def test_slo_picks_cheapest_meeting_every_constraint_at_any_level():
    cells = [mk("fast", 1, 10, 100, price=10, ttft_p90=100), mk("fast", 20, 30, 900, price=10, ttft_p90=400),
             mk("slow", 5, 50, 300, price=1, ttft_p90=800), mk("nottft", 5, 5, 5000, price=0.1)]
    slo = parse("p90_ttft_ms<=500,p50_ms_per_token<=40")
    [p] = recommend(cells, "latency", slo=slo)
    assert p.run_id == "fast__c20" and p.metric == "cost_per_1m_tokens"
    assert p.runner_up.run_id == "fast__c1" and p.slo == ["p90_ttft_ms<=500", "p50_ms_per_token<=40"]
    assert "any concurrency meeting p90_ttft_ms<=500, p50_ms_per_token<=40" in p.rule
    [none] = recommend(cells, "cost", slo=parse("p90_ttft_ms<=50"))
    assert none.run_id is None and "none of 4 cells meets the SLO" in none.note


# --------------------------------------------------------------------------- study basis


def test_study_basis_uses_the_external_figure():
    cells = [mk("a", 20, 10, 100, price=1), mk("b", 20, 10, 90, price=1)]
    ext = {"a__c20": {"study_throughput_tok_s": 100.0}, "b__c20": {"Thorughput (tokens/second)": 150.0}}
    assert recommend(cells, "throughput")[0].deployment == "a"
    [p] = recommend(cells, "throughput", basis="study", external=ext)
    assert p.deployment == "b" and p.tokens_per_s == 150 and "study's own" in p.rule
    assert p.cost_per_1m_tokens == pytest.approx(1.851852, abs=1e-6)  # $1/h, 150 tok/s: 1e6 / 150 / 3600
    with pytest.raises(ConfigError, match="has no study throughput figure"):
        recommend(cells, "throughput", basis="study", external={})
    [lat] = recommend(cells, "latency", basis="study", external=ext)  # same pick, study figures shown
    assert lat.deployment == "a" and lat.tokens_per_s == 100 and "study's own" not in lat.rule


# --------------------------------------------------------------------------- Pareto


def test_pareto_front():
    cells = [mk("a", 1, 10, 100, price=10), mk("b", 1, 20, 100, price=1), mk("c", 1, 25, 100, price=5),
             mk("d", 5, 30, 100, price=0.5), mk("e", 1, 10, 100, price=10, model="13B")]
    pts = pareto(cells)
    assert [(p.group, p.concurrency, p.deployment) for p in pts] == [
        ("7B", 1, "b"), ("7B", 1, "a"), ("7B", 5, "d"), ("13B", 1, "e")]
    across = pareto(cells, per_concurrency=False)
    assert [p.deployment for p in across if p.group == "7B"] == ["d", "b", "a"]
    assert pareto(cells, latency="p90_ttft_ms") == []  # no TTFT in these cells
    with pytest.raises(ConfigError, match="cannot read 'ttft'"):
        pareto(cells, latency="ttft")


def test_front_keeps_identical_points():
    p = dict(deployment="x", concurrency=1, group="g", latency_metric="m")
    pts = [ParetoPoint(run_id="1", cost_per_1m_tokens=1, latency=1, **p),
           ParetoPoint(run_id="2", cost_per_1m_tokens=1, latency=1, **p),
           ParetoPoint(run_id="3", cost_per_1m_tokens=2, latency=1, **p)]
    assert [q.run_id for q in front(pts)] == ["1", "2"]


# --------------------------------------------------------------------------- the 2023 study's tables

PUBLISHED_LATENCY = {  # huggingface blog "llama-sagemaker-benchmark", Best Latency Deployment table
    "7B": ("Llama-2-7b-hf_ml.g5.12xlarge_tp4", 16.812526, 61.45733054, 271.19, 32.05),
    "13B": ("Llama-2-13b-hf_ml.g5.12xlarge_tp4", 21.002715, 47.15736567, 353.43, 41.76),
    "70B": ("Llama-2-70b-hf_ml.p4d.24xlarge_tp8", 41.348543, 24.5142928, 679.88, 427.05),
}


@pytest.fixture(scope="module")
def seed_store(tmp_path_factory):
    if not (SEED / "sagemaker").is_dir():
        pytest.skip(f"2023 seed data not found at {SEED} (set DEPLOYBENCH_SEED_DIR)")
    study = import_seed(SEED, tmp_path_factory.mktemp("seed"))
    return api.load_summaries(study), load_external(study)


@pytest.mark.parametrize("basis", ["deploybench", "study"])
@pytest.mark.required
def test_seed_latency_table_reproduced(seed_store, basis):
    summaries, ext = seed_store
    picks = recommend(summaries, "latency", basis=basis, external=ext)
    assert [p.group for p in picks] == ["7B", "13B", "70B"]
    for p in picks:
        dep, ms, tput, minutes, cost = PUBLISHED_LATENCY[p.group]
        assert (p.deployment, p.concurrency, p.quantization) == (dep, 1, "none")
        assert p.ms_per_token_p50 == ms and not p.tie
        if basis == "study":  # the table's other columns come from the study's own throughput
            assert p.tokens_per_s == pytest.approx(tput, rel=1e-8)
            assert p.minutes_per_1m_tokens == pytest.approx(minutes, abs=0.005)
            assert p.cost_per_1m_tokens == pytest.approx(cost, abs=0.005)


@pytest.mark.required
def test_seed_cost_and_throughput_depart_from_published_tables(seed_store):
    """docs/seed-2023.md: the published cost (7B) and throughput (7B, 13B) rows break their own rules."""
    summaries, ext = seed_store
    for basis in ("deploybench", "study"):
        cost = {p.group: p for p in recommend(summaries, "cost", basis=basis, external=ext)}
        assert cost["7B"].deployment == "Llama-2-7b-hf_ml.g5.2xlarge_tp1"  # published: 7B GPTQ on g5.2xlarge
        assert cost["7B"].runner_up.deployment == "Llama-2-7B-GPTQ_ml.g5.2xlarge_tp1"
        assert cost["13B"].deployment == "Llama-2-13B-GPTQ_ml.g5.2xlarge_tp1"  # as published
        assert cost["70B"].deployment == "Llama-2-70B-GPTQ_ml.g5.12xlarge_tp4"  # as published
        tput = {p.group: p for p in recommend(summaries, "throughput", basis=basis, external=ext)}
        assert tput["7B"].hardware == tput["13B"].hardware == "ml.p4d.24xlarge"  # published: ml.g5.12xlarge
        assert tput["70B"].deployment == "Llama-2-70b-hf_ml.p4d.24xlarge_tp8"  # as published
    study_cost = {p.group: p for p in recommend(summaries, "cost", basis="study", external=ext)}
    assert study_cost["7B"].cost_per_1m_tokens == pytest.approx(3.205, abs=0.001)  # vs the table's $3.50
    assert study_cost["13B"].cost_per_1m_tokens == pytest.approx(5.87, abs=0.005)
    assert study_cost["70B"].cost_per_1m_tokens == pytest.approx(59.08, abs=0.005)
    study_tput = {p.group: p for p in recommend(summaries, "throughput", basis="study", external=ext)}
    assert study_tput["13B"].tokens_per_s == pytest.approx(668.02, abs=0.005)  # the blog text says 688


@pytest.mark.required
def test_seed_pareto_has_every_model(seed_store):
    summaries, _ = seed_store
    pts = pareto(summaries)
    assert {p.group for p in pts} == {"7B", "13B", "70B"}
    assert all(isinstance(p, ParetoPoint) for p in pts)
    assert isinstance(recommend(summaries, "cost")[0], Pick)
