"""Quality measured for real: llama-perplexity on the SmolLM2 quantization ladder, greedy agreement
between real llama-servers, a study that stores quality and a recommend gated on it.

Kept small for 2 cores: 4 chunks of 256 tokens (127 scored each), 2 threads.
"""

from __future__ import annotations

import json

import pytest

from deploybench import api
from deploybench.cli import main
from deploybench.engines import create
from deploybench.quality import agreement as agr
from deploybench.quality import gate_folder, measure_ladder, read_table
from deploybench.engines import LlamaCppEngine
from deploybench.sweep import validate_study

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("have_llama")]
CTX, CHUNKS = 256, 4


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEPLOYBENCH_CACHE", str(tmp_path_factory.mktemp("qcache")))
        yield


@pytest.fixture(scope="module")
def ladder():
    res = measure_ladder("smollm2", ["native", "Q8_0", "Q4_K_M", "Q2_K"], "kld", ctx=CTX, chunks=CHUNKS, threads=2)
    return {r.quantization: r for r in res}


def test_kld_rises_down_the_ladder(ladder):
    base, q8, q4, q2 = (ladder[q] for q in ("native", "Q8_0", "Q4_K_M", "Q2_K"))
    assert base.kld == 0.0 and base.top1_agreement == 1.0 and base.note == "the baseline itself"
    assert 0 < q8.kld < q4.kld < q2.kld, [r.kld for r in (q8, q4, q2)]
    assert q8.top1_agreement > q4.top1_agreement > q2.top1_agreement
    assert q8.tokens_scored == CHUNKS * (CTX - 1 - CTX // 2)


def test_perplexity_ordering_from_the_run(ladder):
    base, q8, q4, q2 = (ladder[q] for q in ("native", "Q8_0", "Q4_K_M", "Q2_K"))
    # same tokens, same baseline (llama-perplexity prints the baseline's own estimate to 4 decimals)
    assert all(r.perplexity_base == pytest.approx(base.perplexity, abs=1e-4) for r in (q8, q4, q2))
    assert abs(q8.perplexity / base.perplexity - 1) < 0.01, (q8.perplexity, base.perplexity)
    assert q4.perplexity < q2.perplexity
    assert q2.perplexity_change == pytest.approx(q2.perplexity / q2.perplexity_base - 1)


def test_baseline_named_and_bits_per_weight(ladder):
    assert {r.baseline for r in ladder.values()} == {"smollm2 as shipped (Q4_1)"}
    bpw = {q: r.bits_per_weight for q, r in ladder.items()}
    assert bpw["Q8_0"] > bpw["Q4_K_M"] > bpw["Q2_K"], bpw
    # SmolLM2's width (576) is no multiple of 256: most tensors fall back from the K-quant types, so the
    # files are far wider than their names say (Q4_K is 4.5 bits, Q2_K 2.625)
    assert ladder["Q4_K_M"].nominal_type_share < 0.5 and ladder["Q8_0"].nominal_type_share > 0.9
    assert bpw["Q4_K_M"] > 5.0 and bpw["Q2_K"] > 3.5
    assert sum(ladder["Q2_K"].tensor_types.values()) == sum(ladder["native"].tensor_types.values())


def test_cli_json_and_cache(ladder, capsys):
    assert main(["quality", "smollm2", "--quantizations", "Q8_0,Q2_K", "--ctx", str(CTX), "--chunks", str(CHUNKS),
                 "--threads", "2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["baseline"] == "smollm2 as shipped (Q4_1)" and data["text"] == "quality-text.txt"
    rows = {r["quantization"]: r for r in data["quantizations"]}
    for q in ("Q8_0", "Q2_K"):  # served from the cache: the very figures the ladder measured
        assert rows[q]["kld"] == ladder[q].kld and rows[q]["perplexity"] == ladder[q].perplexity
        assert rows[q]["top1_agreement"] == ladder[q].top1_agreement
        assert rows[q]["bits_per_weight"] == ladder[q].bits_per_weight


def _outputs(model: str, tmp_path, prompts):
    tmp_path.mkdir(parents=True, exist_ok=True)
    srv = create(LlamaCppEngine(model=model, threads=1, parallel=1, ctx_size=1024), tmp_path)
    with srv as ep:
        return agr.greedy_outputs(ep, prompts, max_tokens=24, protocol="openai-completions")


def test_greedy_agreement_self_and_other(tmp_path):
    prompts = agr.prompt_set(6)
    ref = _outputs("smollm2", tmp_path / "a", prompts)
    again = _outputs("smollm2", tmp_path / "b", prompts)  # a second server: same model, same settings
    other = _outputs("random-llama:10M", tmp_path / "c", prompts)  # same tokenizer, random weights
    assert all(ref)
    assert agr.compare(ref, again) == {"token_match": 1.0, "exact_match": 1.0}
    diff = agr.compare(ref, other)
    assert diff["token_match"] <= 0.5 and diff["exact_match"] == 0.0, diff


def test_study_stores_quality_and_recommend_is_gated(tmp_path, capsys):
    study = validate_study({
        "name": "qgate", "models": [{"name": "smollm2", "source": "smollm2"}], "quantizations": ["Q8_0", "Q2_K"],
        "hardware": [{"name": "cpu", "threads": 2, "price_per_hour": 0.09}],
        "engine": {"kind": "llamacpp", "settings": {"parallel": 2, "ctx_size": 1024}},
        "workload": {"source": {"kind": "synthetic", "input_tokens": 32, "prompts": 50}, "max_tokens": 8},
        "load": {"rounds": 1, "concurrency": [1], "requests": 4, "warmup_requests": 1, "contention_retries": 0},
        "quality": {"method": "kld", "ctx": CTX, "chunks": CHUNKS, "threads": 2}})
    study_dir, summaries, failures = api.run_study(study, tmp_path)
    assert failures == [] and len(summaries) == 2
    table = read_table(study_dir)
    by_dep = {r.deployments[0]: r for r in table.results}
    q8 = next(d for d in by_dep if "Q8_0" in d)
    q2 = next(d for d in by_dep if "Q2_K" in d)
    limit = (by_dep[q8].kld + by_dep[q2].kld) / 2  # between the two, from the run
    assert main(["recommend", str(study_dir), "--scenario", "cost", "--max-quality-loss", f"kld<={limit:.6f}",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [e["deployment"] for e in data["excluded"]] == [q2] and "mean KLD" in data["excluded"][0]["reasons"][0]
    # the pick (None only if a busy host flagged every remaining cell 'contended') is never the excluded one,
    # and the excluded deployment's cells were not even considered
    assert all(p["deployment"] in (q8, None) for p in data["picks"])
    assert not any(q2 in line for p in data["picks"] for line in p.get("skipped", []))
    kept = [s.deployment for s in gate_folder(study_dir, summaries, f"kld<={limit:.6f}")[0]]
    assert kept == [q8]
