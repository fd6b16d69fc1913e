"""SageMaker: control plane with moto (lifecycle, tags, failures, cleanup) and botocore's Stubber
(exact requests for the real GPU instance types moto refuses); data plane with botocore's
``sagemaker-runtime`` client against a local event-stream adapter in front of a real llama-server.

No request leaves 127.0.0.1: moto intercepts the control plane in-process, the data plane goes to
the adapter, and the credentials are fake.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

boto3 = pytest.importorskip("boto3")
moto = pytest.importorskip("moto")
from botocore.stub import ANY, Stubber  # noqa: E402
from moto import mock_aws  # noqa: E402

from deploybench.engines import cleanup as cleanup_mod  # noqa: E402
from deploybench import engines  # noqa: E402
from deploybench.catalog import load_catalog  # noqa: E402
from deploybench.engines.sagemaker import (  # noqa: E402
    MANAGED_TAG, SageMakerDeployment, SageMakerEngine, container_env, image_uri, resource_name,
)
from deploybench.protocols.base import Draft, GenParams, Prompt  # noqa: E402
from deploybench.schemas import ConfigError, EngineError  # noqa: E402

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/deploybench-test"
MOTO_OK_INSTANCE = "ml.g4dn.12xlarge"  # moto 5.2.x rejects ml.g5/p4d/p5/g6 in CreateEndpointConfig


@pytest.fixture(autouse=True)
def fake_aws(monkeypatch, tmp_path):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
                 "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION,
                 "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none")}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def cfg(**kw) -> SageMakerEngine:
    base = dict(model_id="meta-llama/Llama-2-7b-hf", instance_type=MOTO_OK_INSTANCE, region=REGION, role_arn=ROLE,
                startup_timeout_s=5.0)
    base.update(kw)
    return SageMakerEngine(**base)


def deployment(c: SageMakerEngine, tmp_path: Path, client=None, **kw) -> SageMakerDeployment:
    dep = SageMakerDeployment(c, tmp_path / "study-x" / "_servers" / "llama-7b", client=client, **kw)
    dep.poll_s = 0.01
    dep.delete_timeout_s = 1.0
    return dep


def everything(sm) -> dict[str, list[str]]:
    return {"endpoints": [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]],
            "configs": [e["EndpointConfigName"] for e in sm.list_endpoint_configs()["EndpointConfigs"]],
            "models": [m["ModelName"] for m in sm.list_models()["Models"]]}


EMPTY = {"endpoints": [], "configs": [], "models": []}

# ---------------------------------------------------------------------------- pure helpers


def test_image_uri_and_env():
    assert image_uri("us-east-1", "1.0.3") == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:"
        "2.0.1-tgi1.0.3-gpu-py39-cu118-ubuntu20.04")
    assert image_uri("eu-west-1", "1.4").endswith(":2.1.1-tgi1.4.5-gpu-py310-cu121-ubuntu22.04")
    assert image_uri("af-south-1", "1.0.3").startswith("626614931356.dkr.ecr.af-south-1.amazonaws.com/")
    assert ".amazonaws.com.cn/" in image_uri("cn-north-1", "1.0.3")
    with pytest.raises(ConfigError, match="image_uri"):
        image_uri("us-east-1", "9.9.9")
    env = container_env(cfg(num_gpus=4, quantize="gptq", max_input_length=1024, max_total_tokens=2048))
    assert env == {"HF_MODEL_ID": "meta-llama/Llama-2-7b-hf", "SM_NUM_GPUS": "4", "MAX_INPUT_LENGTH": "1024",
                   "MAX_TOTAL_TOKENS": "2048", "HF_MODEL_QUANTIZE": "gptq"}


def test_resource_names_are_valid_and_unique():
    import re

    names = {resource_name("Llama 2 70B / GPTQ on ml.p4d.24xlarge (tp=8)") for _ in range(20)}
    assert len(names) == 20
    for n in names:
        assert len(n) <= 63 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", n), n


def test_cost_guard_uses_the_catalog_price(tmp_path):
    """One price source (the catalog, the 2023 study's prices) and one guard (engines.create)."""
    price = load_catalog().price("ml.p4d.24xlarge", REGION).usd_per_hour
    assert price == pytest.approx(37.688)
    ok = engines.create(cfg(instance_type="ml.p4d.24xlarge", max_cost=20.0, expected_hours=0.5), tmp_path, price)
    assert ok.cost_estimate == pytest.approx(18.844)
    with pytest.raises(ConfigError, match=r"exceeds max_cost \$10.00"):
        engines.create(cfg(instance_type="ml.p4d.24xlarge", max_cost=10.0, expected_hours=0.5), tmp_path, price)
    with pytest.raises(ConfigError, match="no price known"):
        engines.create(cfg(max_cost=10.0), tmp_path, price_per_hour=None)
    assert engines.create(cfg(), tmp_path).cost_estimate is None  # no limit set: no guard


@mock_aws
def test_cost_guard_refuses_before_creating_anything(tmp_path):
    """Through the runner, as a study runs it: the guard fires before any AWS call."""
    from deploybench.schemas import Deployment, LoadConfig, RunConfig
    from deploybench.sweep.runner import run_deployment

    sm = boto3.client("sagemaker", region_name=REGION)
    c = cfg(instance_type="ml.p4d.24xlarge", max_cost=50.0, expected_hours=2.0)
    run = RunConfig(deployment=Deployment(name="p4d", engine=c, protocol="sagemaker-tgi",
                                          hardware={"name": "ml.p4d.24xlarge", "price_per_hour": 37.688}),
                    load=LoadConfig(rounds=1, concurrency=[1], requests=1))
    with pytest.raises(ConfigError, match="exceeds max_cost"):
        run_deployment(run, [], tmp_path / "study-x")
    assert everything(sm) == EMPTY


def test_role_is_required(tmp_path, monkeypatch):
    monkeypatch.delenv("DEPLOYBENCH_SAGEMAKER_ROLE_ARN", raising=False)
    with pytest.raises(ConfigError, match="role_arn"):
        deployment(cfg(role_arn=None), tmp_path)

# ---------------------------------------------------------------------------- lifecycle (moto)


@mock_aws
def test_lifecycle_tags_and_delete(tmp_path):
    sm = boto3.client("sagemaker", region_name=REGION)
    dep = deployment(cfg(num_gpus=4, quantize="gptq"), tmp_path, client=sm)
    ep = dep.start()
    assert ep.protocol == "sagemaker-tgi" and not ep.supports_ignore_eos
    assert ep.url == f"https://runtime.sagemaker.{REGION}.amazonaws.com/endpoints/{dep.name}"
    assert sm.describe_endpoint(EndpointName=dep.name)["EndpointStatus"] == "InService"
    model = sm.describe_model(ModelName=dep.name)
    assert model["PrimaryContainer"]["Image"].endswith("tgi1.0.3-gpu-py39-cu118-ubuntu20.04")
    assert model["PrimaryContainer"]["Environment"]["SM_NUM_GPUS"] == "4"
    assert model["ExecutionRoleArn"] == ROLE
    config = sm.describe_endpoint_config(EndpointConfigName=dep.name)
    assert config["ProductionVariants"][0]["InstanceType"] == MOTO_OK_INSTANCE
    for arn in (model["ModelArn"], config["EndpointConfigArn"], sm.describe_endpoint(EndpointName=dep.name)["EndpointArn"]):
        tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
        assert tags[MANAGED_TAG] == "true" and tags["deploybench:study"] == "study-x"
        assert tags["deploybench:deployment"] == "llama-7b" and tags["deploybench:created"].endswith("Z")
    info = dep.info()
    assert info.extra["endpoint_name"] == dep.name and info.extra["instance_type"] == MOTO_OK_INSTANCE
    assert info.extra["in_service_s"] is not None
    assert "testing" not in json.dumps(info.model_dump())  # credentials never end up in run metadata
    dep.stop()
    assert everything(sm) == EMPTY
    dep.stop()  # idempotent
    assert "deleted endpoint" in (tmp_path / "study-x" / "_servers" / "llama-7b" / "sagemaker.log").read_text()


@mock_aws
def test_context_manager_deletes_on_exception(tmp_path):
    sm = boto3.client("sagemaker", region_name=REGION)
    with pytest.raises(RuntimeError):
        with deployment(cfg(), tmp_path, client=sm):
            assert everything(sm)["endpoints"]
            raise RuntimeError("benchmark crashed")
    assert everything(sm) == EMPTY


class Interrupting:
    """Wraps a client; raises ``exc`` when ``method`` is called (after the real call if ``after``)."""

    def __init__(self, client, method: str, exc: BaseException, after: bool = True) -> None:
        self._c, self._m, self._exc, self._after = client, method, exc, after

    def __getattr__(self, name):
        real = getattr(self._c, name)
        if name != self._m:
            return real

        def call(**kw):
            if self._after:
                real(**kw)
            raise self._exc
        return call


@pytest.mark.parametrize("method,exc", [
    ("create_endpoint", KeyboardInterrupt()),        # Ctrl-C right after the endpoint was created
    ("describe_endpoint", KeyboardInterrupt()),      # ... or while waiting for InService
    ("create_endpoint_config", RuntimeError("lost response")),  # created, but the answer never came
])
@mock_aws
def test_interrupted_deployment_leaves_nothing(tmp_path, method, exc):
    sm = boto3.client("sagemaker", region_name=REGION)
    dep = deployment(cfg(), tmp_path, client=Interrupting(sm, method, exc))
    with pytest.raises((KeyboardInterrupt, EngineError)):
        dep.start()
    assert everything(sm) == EMPTY


@mock_aws
def test_half_way_failure_cleans_up_and_is_one_line(tmp_path):
    # moto rejects ml.g5.* in CreateEndpointConfig: a real half-way failure (model already created)
    sm = boto3.client("sagemaker", region_name=REGION)
    dep = deployment(cfg(instance_type="ml.g5.2xlarge"), tmp_path, client=sm)
    with pytest.raises(EngineError) as err:
        dep.start()
    assert "\n" not in str(err.value) and "ValidationException" in str(err.value)
    assert everything(sm) == EMPTY


class Statuses:
    def __init__(self, client, statuses: list[str], reason: str = "") -> None:
        self._c, self._s, self._reason = client, list(statuses), reason

    def __getattr__(self, name):
        real = getattr(self._c, name)
        if name != "describe_endpoint":
            return real

        def describe(**kw):
            out = real(**kw)
            out["EndpointStatus"] = self._s.pop(0) if len(self._s) > 1 else self._s[0]
            if self._reason:
                out["FailureReason"] = self._reason
            return out
        return describe


@mock_aws
def test_failed_endpoint_and_timeout(tmp_path):
    sm = boto3.client("sagemaker", region_name=REGION)
    dep = deployment(cfg(), tmp_path, client=Statuses(sm, ["Creating", "Creating", "Failed"], "CUDA out of memory"))
    with pytest.raises(EngineError, match="is Failed: CUDA out of memory"):
        dep.start()
    assert everything(sm) == EMPTY
    dep = deployment(cfg(startup_timeout_s=0.2), tmp_path, client=Statuses(sm, ["Creating"]))
    with pytest.raises(EngineError, match="not InService after"):
        dep.start()
    assert everything(sm) == EMPTY


@mock_aws
def test_delete_retries_while_endpoint_busy(tmp_path):
    sm = boto3.client("sagemaker", region_name=REGION)
    from botocore.exceptions import ClientError

    class Busy:
        def __init__(self, c):
            self._c, self.tries = c, 0

        def __getattr__(self, name):
            real = getattr(self._c, name)
            if name != "delete_endpoint":
                return real

            def delete(**kw):
                self.tries += 1
                if self.tries < 3:
                    raise ClientError({"Error": {"Code": "ValidationException",
                                                 "Message": "Cannot delete in-progress endpoint"}}, "DeleteEndpoint")
                return real(**kw)
            return delete

    busy = Busy(sm)
    dep = deployment(cfg(), tmp_path, client=busy)
    dep.start()
    dep.stop()
    assert busy.tries == 3 and everything(sm) == EMPTY

# ---------------------------------------------------------------------------- exact requests (Stubber)


@pytest.mark.parametrize("instance,gpus,quant", [("ml.g5.2xlarge", 1, None), ("ml.g5.12xlarge", 4, "gptq"),
                                                 ("ml.p4d.24xlarge", 8, None), ("ml.g6.12xlarge", 4, None)])
def test_exact_requests_for_gpu_instance_types(tmp_path, instance, gpus, quant):
    sm = boto3.client("sagemaker", region_name=REGION)
    dep = deployment(cfg(instance_type=instance, num_gpus=gpus, quantize=quant, startup_timeout_s=600), tmp_path,
                     client=sm)
    env = {"HF_MODEL_ID": "meta-llama/Llama-2-7b-hf", "SM_NUM_GPUS": str(gpus), "MAX_INPUT_LENGTH": "1024",
           "MAX_TOTAL_TOKENS": "2048"}
    if quant:
        env["HF_MODEL_QUANTIZE"] = quant
    image = ("763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:"
             "2.0.1-tgi1.0.3-gpu-py39-cu118-ubuntu20.04")
    arn = f"arn:aws:sagemaker:{REGION}:123456789012:"
    with Stubber(sm) as stub:  # validates every request against the real service model
        stub.add_response("create_model", {"ModelArn": arn + "model/" + dep.name}, {
            "ModelName": dep.name, "ExecutionRoleArn": ROLE, "PrimaryContainer": {"Image": image, "Environment": env},
            "Tags": ANY})
        stub.add_response("create_endpoint_config", {"EndpointConfigArn": arn + "endpoint-config/" + dep.name}, {
            "EndpointConfigName": dep.name, "Tags": ANY, "ProductionVariants": [{
                "VariantName": "AllTraffic", "ModelName": dep.name, "InitialInstanceCount": 1,
                "InstanceType": instance, "InitialVariantWeight": 1.0,
                "ContainerStartupHealthCheckTimeoutInSeconds": 600}]})
        stub.add_response("create_endpoint", {"EndpointArn": arn + "endpoint/" + dep.name},
                          {"EndpointName": dep.name, "EndpointConfigName": dep.name, "Tags": ANY})
        desc = {"EndpointName": dep.name, "EndpointArn": arn + "endpoint/" + dep.name,
                "EndpointConfigName": dep.name, "CreationTime": "2024-01-01T00:00:00Z",
                "LastModifiedTime": "2024-01-01T00:00:00Z"}
        stub.add_response("describe_endpoint", {**desc, "EndpointStatus": "Creating"}, {"EndpointName": dep.name})
        stub.add_response("describe_endpoint", {**desc, "EndpointStatus": "InService"}, {"EndpointName": dep.name})
        stub.add_response("delete_endpoint", {}, {"EndpointName": dep.name})
        stub.add_response("delete_endpoint_config", {}, {"EndpointConfigName": dep.name})
        stub.add_response("delete_model", {}, {"ModelName": dep.name})
        dep.start()
        dep.stop()
        stub.assert_no_pending_responses()
    assert {t["Key"] for t in dep.tags} >= {MANAGED_TAG, "deploybench:study", "deploybench:created"}

# ---------------------------------------------------------------------------- cleanup


def _leftover(sm, kind_name: str, tags: list[dict]) -> None:
    image = image_uri(REGION, "1.0.3")
    sm.create_model(ModelName=kind_name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": image}, Tags=tags)
    sm.create_endpoint_config(EndpointConfigName=kind_name, Tags=tags, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": kind_name, "InitialInstanceCount": 1,
        "InstanceType": MOTO_OK_INSTANCE}])
    sm.create_endpoint(EndpointName=kind_name, EndpointConfigName=kind_name, Tags=tags)


@mock_aws
def test_cleanup_finds_and_deletes_tagged_leftovers(tmp_path, capsys):
    from deploybench.cli import main

    sm = boto3.client("sagemaker", region_name=REGION)
    managed = [{"Key": MANAGED_TAG, "Value": "true"}, {"Key": "deploybench:created", "Value": "2023-09-21T10:00:00Z"}]
    _leftover(sm, "deploybench-left-a", managed + [{"Key": "deploybench:study", "Value": "s1"}])
    _leftover(sm, "deploybench-left-b", managed + [{"Key": "deploybench:study", "Value": "s2"}])
    _leftover(sm, "someone-elses", [{"Key": "team", "Value": "prod"}])  # never touched

    found = cleanup_mod.find_leftovers(sm)
    assert sorted((lo.kind, lo.name) for lo in found) == sorted(
        (k, n) for k in ("endpoint", "endpoint-config", "model") for n in ("deploybench-left-a", "deploybench-left-b"))
    assert [lo.name for lo in cleanup_mod.find_leftovers(sm, study="s1")] == ["deploybench-left-a"] * 3
    assert cleanup_mod.find_leftovers(sm, older_than_hours=1e9) == []

    assert main(["cleanup", "--region", REGION, "--dry-run"]) == 0
    assert "deploybench-left-a" in capsys.readouterr().out
    assert len(everything(sm)["endpoints"]) == 3

    assert main(["cleanup", "--region", REGION, "--study", "s1"]) == 0
    assert sorted(everything(sm)["endpoints"]) == ["deploybench-left-b", "someone-elses"]
    assert main(["cleanup", "--region", REGION]) == 0
    assert everything(sm) == {"endpoints": ["someone-elses"], "configs": ["someone-elses"], "models": ["someone-elses"]}
    assert main(["cleanup", "--region", REGION]) == 0
    assert "no deploybench-managed" in capsys.readouterr().err


@mock_aws
def test_cleanup_finds_what_a_killed_run_left(tmp_path):
    sm = boto3.client("sagemaker", region_name=REGION)
    dep = deployment(cfg(), tmp_path, client=sm)
    dep.start()  # the process "dies" here: no stop()
    from deploybench.engines import sagemaker as sm_mod

    sm_mod._live.pop(id(dep), None)  # as if the atexit hook never ran (SIGKILL)
    found = cleanup_mod.find_leftovers(sm, study="study-x")
    assert {lo.kind for lo in found} == {"endpoint", "endpoint-config", "model"}
    results = cleanup_mod.delete_leftovers(sm, found)
    assert all(err is None for _, err in results) and everything(sm) == EMPTY

# ---------------------------------------------------------------------------- data plane (real llama-server)


@pytest.fixture(scope="module")
def llama(tmp_path_factory, have_llama):
    from deploybench.engines.llamacpp import LlamaCppServer
    from deploybench.engines import LlamaCppEngine

    try:
        server = LlamaCppServer(LlamaCppEngine(threads=1, parallel=2, ctx_size=2048),
                                tmp_path_factory.mktemp("llama"))
    except ConfigError as exc:  # have_llama already failed in CI when llama-server is missing
        pytest.fail(f"llama-server is installed but cannot start: {exc}")
    with server as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def adapter(llama):
    from deploybench.testing.adapters import BackgroundServer
    from deploybench.testing.adapters.sagemaker import SageMakerAdapter

    with BackgroundServer(SageMakerAdapter(llama.url, endpoint_names=("local", "split")).app) as url:
        yield url


@pytest.fixture(scope="module")
def split_adapter(llama):
    from deploybench.testing.adapters import BackgroundServer
    from deploybench.testing.adapters.sagemaker import SageMakerAdapter

    with BackgroundServer(SageMakerAdapter(llama.url, split_bytes=7, fail_after_tokens=None).app) as url:
        yield url


def _client(url: str, name: str = "local"):
    from deploybench.protocols.sagemaker import SageMakerClient
    from deploybench.schemas import Endpoint

    return SageMakerClient(Endpoint(url=f"{url}/endpoints/{name}", protocol="sagemaker-tgi", model="smollm2",
                                    supports_ignore_eos=False), max_workers=8)


def _check_draft(d: Draft, n: int) -> None:
    assert d.error is None, d.error
    assert d.output_tokens == n and sum(d.chunk_tokens) == n and d.token_source == "usage"
    assert d.finish_reason == "length"
    assert d.chunk_ns[0] - d.sent_ns > 0  # TTFT > 0
    assert all(b >= a for a, b in zip(d.chunk_ns, d.chunk_ns[1:]))
    assert "".join(d.text_parts).strip()


async def test_botocore_streams_tokens_from_llama_server(adapter):
    client = _client(adapter)
    for n in (1, 8):
        d = Draft()
        await asyncio.wait_for(client.send(Prompt("p0", "The capital of France is"), GenParams(max_tokens=n), d), 60)
        _check_draft(d, n)
    # tokens arrive spread out in time (streamed, not buffered): decode steps take a while on CPU
    assert d.chunk_ns[-1] - d.chunk_ns[0] > 1_000_000
    client.close()


async def test_payloads_split_across_events_are_reassembled(split_adapter):
    client = _client(split_adapter)
    d = Draft()
    await asyncio.wait_for(client.send(Prompt("p", "Once upon a time"), GenParams(max_tokens=6), d), 60)
    _check_draft(d, 6)
    client.close()


async def test_closed_loop_load_over_the_event_stream(adapter):
    from deploybench.load import run_level
    from deploybench.schemas import LoadConfig

    client = _client(adapter)
    records = []
    prompts = [Prompt(f"p{i}", f"Write a sentence about the number {i}.") for i in range(4)]
    res = await asyncio.wait_for(run_level(client, prompts, GenParams(max_tokens=8), 2,
                                           LoadConfig(rounds=1, concurrency=[2], requests=4, warmup_requests=0,
                                                      request_timeout_s=60), records.append), 120)
    client.close()
    assert res.measured == 4 and len(records) == 4
    assert {r.vu for r in records} == {0, 1}
    for r in records:
        assert r.ok and r.output_tokens == 8 and r.chunk_ns[0] > r.sent_ns and r.done_ns >= r.chunk_ns[-1]


async def test_errors_become_one_line_record_errors(llama, adapter):
    from deploybench.testing.adapters import BackgroundServer
    from deploybench.testing.adapters.sagemaker import SageMakerAdapter

    d = Draft()
    await _client(adapter, "no-such-endpoint").send(Prompt("p", "x"), GenParams(max_tokens=4), d)
    assert d.error and "ValidationError" in d.error and "no-such-endpoint" in d.error and d.http_status == 400
    with BackgroundServer(SageMakerAdapter(llama.url, fail_after_tokens=2).app) as url:
        d = Draft()
        await _client(url).send(Prompt("p", "Hello"), GenParams(max_tokens=6), d)
    assert d.error and d.error.startswith("ModelStreamError") and len(d.chunk_ns) == 2


def test_adapter_frames_are_real_event_stream(adapter):
    """Read the raw bytes (no botocore): valid frames, PayloadPart headers, TGI lines inside."""
    import urllib.request

    from deploybench.protocols.eventstream import decode_all

    req = urllib.request.Request(f"{adapter}/endpoints/local/invocations-response-stream", method="POST",
                                 data=json.dumps({"inputs": "Hi", "parameters": {"max_new_tokens": 3},
                                                  "stream": True}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.headers["Content-Type"] == "application/vnd.amazon.eventstream"
        assert resp.headers["Transfer-Encoding"] == "chunked"
        msgs = decode_all(resp.read())
    assert len(msgs) == 3 and all(m.event_type == "PayloadPart" for m in msgs)
    events = [json.loads(m.payload.decode()[5:]) for m in msgs]
    assert [e["index"] for e in events] == [1, 2, 3] and events[-1]["details"]["generated_tokens"] == 3


def test_non_streamed_invocation(adapter):
    from botocore.config import Config

    rt = boto3.client("sagemaker-runtime", region_name=REGION, endpoint_url=adapter,
                      config=Config(retries={"max_attempts": 1}))
    out = rt.invoke_endpoint(EndpointName="local", ContentType="application/json", Body=json.dumps(
        {"inputs": "Hello", "parameters": {"max_new_tokens": 4, "details": True}}))
    answer = json.loads(out["Body"].read())
    assert answer[0]["details"]["generated_tokens"] == 4 and answer[0]["generated_text"]
