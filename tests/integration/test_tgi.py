"""Protocol ``tgi`` against a TGI-wire-format adapter in front of a real llama-server, plus the
``tgi`` engine's argv and its error when the launcher is missing (TGI itself cannot run here)."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from deploybench.protocols.base import Draft, GenParams, Prompt
from deploybench.protocols.tgi import TgiClient, apply_event, request_body
from deploybench.schemas import ConfigError, Endpoint
from deploybench.engines import TgiEngine

# ---------------------------------------------------------------------------- pure parsing


def test_request_body_is_greedy_with_details():
    assert request_body(Prompt("p", "hi"), GenParams(max_tokens=50)) == {
        "inputs": "hi", "parameters": {"max_new_tokens": 50, "details": True, "do_sample": False}}
    body = request_body(Prompt("p", "hi"), GenParams(max_tokens=5, temperature=0.7), stream=False)
    assert body["parameters"] == {"max_new_tokens": 5, "details": True, "do_sample": True, "temperature": 0.7,
                                  "decoder_input_details": True}
    assert "ignore_eos" not in json.dumps(body)  # TGI has no such parameter


def test_apply_event_eos_and_error():
    d = Draft()
    assert not apply_event({"index": 1, "token": {"id": 5, "text": "Hi", "special": False}, "details": None}, 10, d)
    assert apply_event({"index": 2, "token": {"id": 2, "text": "</s>", "special": True}, "generated_text": "Hi",
                        "details": {"finish_reason": "eos_token", "generated_tokens": 2, "seed": None,
                                    "input_length": 7}}, 20, d)
    assert d.chunk_ns == [10, 20] and d.chunk_tokens == [1, 1] and d.text_parts == ["Hi"]
    assert d.output_tokens == 2 and d.input_tokens == 7 and d.finish_reason == "stop" and d.token_source == "usage"
    d = Draft()
    assert apply_event({"error": "Input validation error", "error_type": "validation"}, 1, d)
    assert d.error == "server error (validation): Input validation error"

# ---------------------------------------------------------------------------- engine tgi (argv only)


def test_tgi_engine_argv(tmp_path, monkeypatch):
    from deploybench.engines.tgi import TgiServer

    launcher = tmp_path / "text-generation-launcher"
    launcher.write_text("#!/bin/sh\necho 'text-generation-launcher 1.0.3'\n")
    launcher.chmod(0o755)
    cfg = TgiEngine(model_id="TheBloke/Llama-2-13B-GPTQ", num_shard=4, quantize="gptq", launcher=str(launcher))
    server = TgiServer(cfg, tmp_path, port=8123)
    assert server.argv == [str(launcher), "--model-id", "TheBloke/Llama-2-13B-GPTQ", "--num-shard", "4",
                           "--quantize", "gptq", "--max-input-length", "1024", "--max-total-tokens", "2048",
                           "--hostname", "127.0.0.1", "--port", "8123"]
    plain = TgiServer(TgiEngine(model_id="m", launcher=str(launcher)), tmp_path)
    assert "--quantize" not in plain.argv and plain.argv[plain.argv.index("--hostname") + 1] == "127.0.0.1"
    assert server.info().binary_version == "text-generation-launcher 1.0.3"


def test_tgi_engine_missing_launcher_is_one_clear_line(tmp_path, monkeypatch):
    from deploybench.engines.tgi import TgiServer

    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError) as err:
        TgiServer(TgiEngine(model_id="m"), tmp_path)
    assert "text-generation-launcher not found" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="max_input_length"):
        TgiServer(TgiEngine(model_id="m", max_input_length=4096, max_total_tokens=2048), tmp_path)

# ---------------------------------------------------------------------------- against a real llama-server


@pytest.fixture(scope="module")
def llama(tmp_path_factory, have_llama):
    from deploybench.engines.llamacpp import LlamaCppServer
    from deploybench.engines import LlamaCppEngine

    try:
        server = LlamaCppServer(LlamaCppEngine(threads=1, parallel=2, ctx_size=2048), tmp_path_factory.mktemp("llama"))
    except ConfigError as exc:  # have_llama already failed in CI when llama-server is missing
        pytest.fail(f"llama-server is installed but cannot start: {exc}")
    with server as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def tgi_url(llama):
    from deploybench.testing.adapters import BackgroundServer
    from deploybench.testing.adapters.tgi import TgiAdapter

    with BackgroundServer(TgiAdapter(llama.url).app) as url:
        yield url


def _endpoint(url: str) -> Endpoint:
    return Endpoint(url=url, protocol="tgi", model="smollm2", supports_ignore_eos=False)


async def _send(url: str, n: int, stream: bool = True, prompt: str = "The capital of France is") -> Draft:
    async with aiohttp.ClientSession() as session:
        d = Draft()
        await asyncio.wait_for(TgiClient(_endpoint(url), session, stream=stream).send(
            Prompt("p", prompt), GenParams(max_tokens=n), d), 60)
        return d


@pytest.mark.parametrize("n", [1, 8, 16])
async def test_generate_stream_counts_and_timestamps(tgi_url, n):
    d = await _send(tgi_url, n)
    assert d.error is None, d.error
    assert d.http_status == 200
    assert d.output_tokens == n and sum(d.chunk_tokens) == n and len(d.chunk_ns) == n
    assert d.token_source == "usage" and d.finish_reason == "length"
    assert d.chunk_ns[0] - d.sent_ns > 0  # TTFT > 0
    assert all(b >= a for a, b in zip(d.chunk_ns, d.chunk_ns[1:]))
    if n > 1:  # streamed token by token, not in one burst
        assert d.chunk_ns[-1] > d.chunk_ns[0]
    assert "".join(d.text_parts).strip()


async def test_model_stopping_at_eos_looks_like_tgi(llama):
    """Real TGI has no ignore_eos: the EOS token comes as the final event, special, finish eos_token."""
    from deploybench.testing.adapters import BackgroundServer
    from deploybench.testing.adapters.tgi import TgiAdapter

    prompt = "<|im_start|>user\nIs the sky blue? Answer yes or no.<|im_end|>\n<|im_start|>assistant\n"
    with BackgroundServer(TgiAdapter(llama.url, ignore_eos=False).app) as url:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/generate_stream", json={
                    "inputs": prompt, "parameters": {"max_new_tokens": 48, "details": True}}) as resp:
                events = [json.loads(ln[5:]) for ln in (await resp.text()).splitlines() if ln.startswith("data:")]
        d = await _send(url, 48, prompt=prompt)
    last = events[-1]
    assert last["details"]["finish_reason"] == "eos_token" and last["token"]["special"] is True
    assert last["details"]["generated_tokens"] == len(events) < 48
    assert not any(e["token"]["special"] for e in events[:-1]) and [e["index"] for e in events] == list(
        range(1, len(events) + 1))
    assert d.error is None and d.finish_reason == "stop" and d.output_tokens == len(events) == sum(d.chunk_tokens)


async def test_generate_non_streaming(tgi_url):
    d = await _send(tgi_url, 8, stream=False)
    assert d.error is None, d.error
    assert d.output_tokens == 8 and d.chunk_tokens == [8] and d.finish_reason == "length"
    assert d.chunk_ns[0] > d.sent_ns


async def test_wire_format_is_tgi(tgi_url):
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{tgi_url}/generate_stream", json={
                "inputs": "Hello", "parameters": {"max_new_tokens": 3, "details": True}}) as resp:
            assert resp.headers["Content-Type"].startswith("text/event-stream")
            lines = [ln.strip() for ln in (await resp.text()).splitlines() if ln.strip()]
        events = [json.loads(ln[5:]) for ln in lines]
        assert all(ln.startswith("data:") for ln in lines) and len(events) == 3
        assert [e["index"] for e in events] == [1, 2, 3]
        assert set(events[0]["token"]) == {"id", "text", "logprob", "special"}
        assert events[0]["details"] is None and events[0]["generated_text"] is None
        assert events[-1]["details"]["finish_reason"] == "length" and events[-1]["details"]["generated_tokens"] == 3
        assert events[-1]["generated_text"] == "".join(e["token"]["text"] for e in events)
        async with session.post(f"{tgi_url}/generate", json={"inputs": "x", "parameters": {"max_new_tokens": 0}}) as r:
            assert r.status == 422 and (await r.json())["error_type"] == "validation"
        async with session.get(f"{tgi_url}/health") as r:
            assert r.status == 200


async def test_http_and_in_stream_errors(llama, tgi_url):
    from deploybench.testing.adapters import BackgroundServer
    from deploybench.testing.adapters.tgi import TgiAdapter

    d = await _send(tgi_url, 0)
    assert d.http_status == 422 and d.error.startswith("HTTP 422") and "max_new_tokens" in d.error
    with BackgroundServer(TgiAdapter(llama.url, fail_after_tokens=3).app) as url:
        d = await _send(url, 8)
    assert d.error and "generation" in d.error and len(d.chunk_ns) == 3
    with BackgroundServer(TgiAdapter("http://127.0.0.1:9").app) as url:  # upstream down
        d = await _send(url, 4)
    assert d.error and d.error.startswith("HTTP 424")


async def test_closed_loop_load_with_tgi(tgi_url):
    from deploybench.load import run_level
    from deploybench.schemas import LoadConfig

    records = []
    prompts = [Prompt(f"p{i}", f"Tell me about the number {i}.") for i in range(4)]
    async with aiohttp.ClientSession() as session:
        client = TgiClient(_endpoint(tgi_url), session)
        res = await asyncio.wait_for(run_level(client, prompts, GenParams(max_tokens=8), 2, LoadConfig(rounds=1,
            concurrency=[2], requests=4, warmup_requests=1, request_timeout_s=60), records.append), 120)
    measured = [r for r in records if not r.warmup]
    assert res.measured == 4 and len(measured) == 4
    for r in measured:
        assert r.ok and r.output_tokens == 8 and r.token_source == "usage" and r.chunk_ns[0] > r.sent_ns
