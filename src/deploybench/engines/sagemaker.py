"""Engine ``sagemaker``: the Hugging Face LLM (TGI) container on a SageMaker real-time endpoint.

Control plane with boto3: ``CreateModel`` (HF LLM DLC image, env ``HF_MODEL_ID``,
``SM_NUM_GPUS``, ``HF_MODEL_QUANTIZE``, ``MAX_INPUT_LENGTH``, ``MAX_TOTAL_TOKENS``) →
``CreateEndpointConfig`` (one variant, the instance type) → ``CreateEndpoint`` → poll
``DescribeEndpoint`` until ``InService``. ``stop()`` deletes the endpoint, its config and the
model on every path — also when creation failed half-way or was interrupted — and is safe to
call twice. Every resource is tagged ``deploybench:managed=true`` (+ study, deployment,
creation time) so ``deploybench cleanup`` finds anything a killed process left behind.

Costs real money: the cost guard (``deploybench.engines.create``, before anything is created)
refuses to start when the hardware's price (the catalog's, via the plan) for ``expected_hours``
exceeds ``max_cost`` (both optional config fields).
Credentials come from boto3's usual chain and are never written anywhere by deploybench.
"""

from __future__ import annotations

import atexit
import os
import re
import secrets
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..protocols.sagemaker import runtime_url
from . import process
from .aws import CREATED_TAG, MANAGED_TAG, STUDY_TAG, aws_error, error_code, is_gone
from .cleanup import delete_leftovers, find_leftovers
from ..schemas import (ConfigError, DeploybenchError, Endpoint, EngineError, EngineInfo, EnginePlugin, GridPoint,
                       Serving)


class SageMakerEngine(BaseModel):
    """The Hugging Face LLM (TGI) container on an Amazon SageMaker real-time endpoint."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["sagemaker"] = "sagemaker"
    model_id: str
    instance_type: str
    region: str = "us-east-1"
    role_arn: str | None = None
    image_uri: str | None = None
    tgi_version: str = "1.0.3"
    num_gpus: int = Field(1, ge=1)
    quantize: str | None = None
    max_input_length: int = 1024
    max_total_tokens: int = 2048
    max_cost: float | None = Field(None, gt=0, description="refuse to deploy when the estimate for expected_hours exceeds this (USD)")
    expected_hours: float = Field(1.0, gt=0, description="expected endpoint lifetime incl. startup, for the cost guard")
    startup_timeout_s: float = Field(1800.0, gt=0)

# ---------------------------------------------------------------------------- container images

DEFAULT_ACCOUNT = "763104351884"
# ECR accounts that differ from the default (from the SageMaker Python SDK's image_uri_config)
REGISTRIES = {
    "af-south-1": "626614931356", "il-central-1": "780543022126", "ap-east-1": "871362719292",
    "ap-northeast-3": "364406365360", "ap-south-2": "772153158452", "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322", "cn-north-1": "727897471807", "cn-northwest-1": "727897471807",
    "eu-central-2": "380420809688", "eu-south-1": "692866216735", "eu-south-2": "503227376785",
    "me-south-1": "217643126080", "me-central-1": "914824155844", "us-gov-east-1": "446045086412",
    "us-gov-west-1": "442386744353", "ca-west-1": "204538143572",
}
# TGI version -> (image tag prefix "<torch>-tgi<ver>", python, cuda-os) of the HF LLM DLC
TGI_IMAGES = {
    "0.6.0": ("2.0.0-tgi0.6.0", "py39", "cu118-ubuntu20.04"),
    "0.8.2": ("2.0.0-tgi0.8.2", "py39", "cu118-ubuntu20.04"),
    "0.9.3": ("2.0.1-tgi0.9.3", "py39", "cu118-ubuntu20.04"),
    "1.0.3": ("2.0.1-tgi1.0.3", "py39", "cu118-ubuntu20.04"),  # the 2023 Llama 2 study
    "1.1.0": ("2.0.1-tgi1.1.0", "py39", "cu118-ubuntu20.04"),
    "1.2.0": ("2.1.1-tgi1.2.0", "py310", "cu121-ubuntu20.04"),
    "1.3.1": ("2.1.1-tgi1.3.1", "py310", "cu121-ubuntu20.04"),
    "1.3.3": ("2.1.1-tgi1.3.3", "py310", "cu121-ubuntu20.04"),
    "1.4.0": ("2.1.1-tgi1.4.0", "py310", "cu121-ubuntu20.04"),
    "1.4.2": ("2.1.1-tgi1.4.2", "py310", "cu121-ubuntu22.04"),
    "1.4.5": ("2.1.1-tgi1.4.5", "py310", "cu121-ubuntu22.04"),
    "2.0.0": ("2.1.1-tgi2.0.0", "py310", "cu121-ubuntu22.04"),
}
TGI_ALIASES = {"0.6": "0.6.0", "0.8": "0.8.2", "0.9": "0.9.3", "1.0": "1.0.3", "1.1": "1.1.0", "1.2": "1.2.0",
               "1.3": "1.3.3", "1.4": "1.4.5", "2.0": "2.0.0"}


def image_uri(region: str, tgi_version: str) -> str:
    """ECR URI of the Hugging Face LLM (TGI) inference container for ``region``."""
    version = TGI_ALIASES.get(tgi_version, tgi_version)
    if version not in TGI_IMAGES:
        raise ConfigError(f"engine.tgi_version: no known image for TGI {tgi_version}",
                          f"use one of {', '.join(TGI_IMAGES)} or set engine.image_uri")
    prefix, py, cuda_os = TGI_IMAGES[version]
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    account = REGISTRIES.get(region, DEFAULT_ACCOUNT)
    return f"{account}.dkr.ecr.{region}.{domain}/huggingface-pytorch-tgi-inference:{prefix}-gpu-{py}-{cuda_os}"


def container_env(cfg: SageMakerEngine) -> dict[str, str]:
    env = {"HF_MODEL_ID": cfg.model_id, "SM_NUM_GPUS": str(cfg.num_gpus),
           "MAX_INPUT_LENGTH": str(cfg.max_input_length), "MAX_TOTAL_TOKENS": str(cfg.max_total_tokens)}
    if cfg.quantize:
        env["HF_MODEL_QUANTIZE"] = cfg.quantize
    return env


# ---------------------------------------------------------------------------- names and tags

DEPLOYMENT_TAG = "deploybench:deployment"
_TAG_VALUE_BAD = re.compile(r"[^\w .:/=+\-@]")


def resource_name(deployment: str, now: datetime | None = None) -> str:
    """A SageMaker-valid name (``[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}``), unique per start."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", deployment).strip("-")[:28].strip("-") or "deployment"
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%d%H%M%S")
    return f"deploybench-{slug}-{stamp}-{secrets.token_hex(2)}"


def tags_for(study: str, deployment: str, created: datetime) -> list[dict[str, str]]:
    clean = lambda s: _TAG_VALUE_BAD.sub("_", s)[:256]  # noqa: E731
    return [{"Key": MANAGED_TAG, "Value": "true"}, {"Key": STUDY_TAG, "Value": clean(study)},
            {"Key": DEPLOYMENT_TAG, "Value": clean(deployment)},
            {"Key": CREATED_TAG, "Value": created.strftime("%Y-%m-%dT%H:%M:%SZ")}]


def sagemaker_client(region: str):
    try:
        import boto3  # noqa: PLC0415 (optional dependency)
        from botocore.config import Config  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError("engine sagemaker needs boto3", "pip install 'deploybench[aws]'") from exc
    return boto3.session.Session(region_name=region).client(
        "sagemaker", config=Config(retries={"max_attempts": 8, "mode": "standard"}))


def _is_busy(exc: BaseException) -> bool:
    code, msg = error_code(exc)
    return code == "ValidationException" and bool(re.search(r"in-progress|in progress|Creating|Updating|status", msg))


_FIXES = {
    "AccessDeniedException": "give the caller sagemaker:Create*/Describe*/Delete*/AddTags and iam:PassRole on the role",
    "ResourceLimitExceeded": "request a SageMaker endpoint quota increase for this instance type, or pick another",
    "ValidationException": "check engine.instance_type, engine.role_arn and the image URI for this region",
    "ExpiredTokenException": "refresh your AWS credentials (e.g. aws sso login) and run `deploybench cleanup`",
}

# live deployments, stopped at interpreter exit if nothing else did (last line of defence)
_live: dict[int, "SageMakerDeployment"] = {}
_live_lock = threading.Lock()


def _stop_all() -> None:
    with _live_lock:
        deps = list(_live.values())
    for dep in deps:
        try:
            dep.stop()
        except Exception:  # noqa: BLE001 (exit path: cleanup command finds what is left)
            pass


atexit.register(_stop_all)


class SageMakerDeployment(process.ContextServer):
    """Create, wait for, and always delete one SageMaker endpoint. Use as a context manager."""

    kind = "sagemaker"
    poll_s = 15.0
    delete_timeout_s = 900.0

    def __init__(self, cfg: SageMakerEngine, log_dir: Path, *, client: Any = None, study: str | None = None,
                 deployment: str | None = None, runtime_base: str | None = None,
                 price_override: float | None = None) -> None:
        self.cfg = cfg
        self.log_dir = Path(log_dir)
        self.log_path = self.log_dir / "sagemaker.log"
        self.deployment = deployment or self.log_dir.name or "default"
        parent = self.log_dir.parent
        self.study = study or (parent.parent.name if parent.name == "_servers" else parent.name) or "adhoc"
        self.region = cfg.region
        self.image = cfg.image_uri or image_uri(cfg.region, cfg.tgi_version)
        self.env = container_env(cfg)
        self.role_arn = cfg.role_arn or os.environ.get("DEPLOYBENCH_SAGEMAKER_ROLE_ARN")
        if not self.role_arn:
            raise ConfigError("engine.role_arn: SageMaker needs an execution role",
                              "set engine.role_arn (or DEPLOYBENCH_SAGEMAKER_ROLE_ARN) to an IAM role ARN "
                              "that SageMaker can assume")
        self.expected_hours = cfg.expected_hours
        # the guard ran before this object was made (engines.create); this is the figure it used
        self.cost_estimate = None if price_override is None else price_override * self.expected_hours
        self.runtime_base = runtime_base or runtime_url(cfg.region)
        self._client = client
        self.created_at = datetime.now(timezone.utc)
        self.name = resource_name(self.deployment, self.created_at)
        self.tags = tags_for(self.study, self.deployment, self.created_at)
        self._owned: list[str] = []  # kinds whose creation was attempted: "model", "endpoint-config", "endpoint"
        self.in_service_s: float | None = None
        self._stopped = False

    # ------------------------------------------------------------------ plumbing

    @property
    def client(self):
        if self._client is None:
            self._client = sagemaker_client(self.region)
        return self._client

    def _log(self, text: str) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a") as f:
            f.write(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {text}\n")

    @property
    def url(self) -> str:
        return f"{self.runtime_base}/endpoints/{self.name}"

    # ------------------------------------------------------------------ requests (pure: testable with Stubber)

    def model_request(self) -> dict:
        return {"ModelName": self.name, "ExecutionRoleArn": self.role_arn,
                "PrimaryContainer": {"Image": self.image, "Environment": dict(self.env)}, "Tags": self.tags}

    def endpoint_config_request(self) -> dict:
        variant = {"VariantName": "AllTraffic", "ModelName": self.name, "InitialInstanceCount": 1,
                   "InstanceType": self.cfg.instance_type, "InitialVariantWeight": 1.0}
        if self.cfg.startup_timeout_s >= 60:  # the container downloads the model first: give it time
            variant["ContainerStartupHealthCheckTimeoutInSeconds"] = int(min(self.cfg.startup_timeout_s, 3600))
        return {"EndpointConfigName": self.name, "ProductionVariants": [variant], "Tags": self.tags}

    def endpoint_request(self) -> dict:
        return {"EndpointName": self.name, "EndpointConfigName": self.name, "Tags": self.tags}

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Endpoint:
        if self._stopped:
            raise EngineError("this SageMaker deployment was already stopped", "create a new engine to start again")
        with _live_lock:
            _live[id(self)] = self
        t0 = time.monotonic()
        try:
            self._create("model", self.client.create_model, self.model_request())
            self._create("endpoint-config", self.client.create_endpoint_config, self.endpoint_config_request())
            self._create("endpoint", self.client.create_endpoint, self.endpoint_request())
            self._wait_in_service()
        except BaseException as exc:
            self._log(f"start failed: {type(exc).__name__}: {exc}; deleting what was created")
            try:
                self.stop()
            except Exception as cleanup_exc:  # noqa: BLE001 (report the original failure, mention this)
                self._log(f"cleanup after failure failed: {cleanup_exc}")
            if isinstance(exc, Exception) and not isinstance(exc, (EngineError, ConfigError)):
                raise self._engine_error("start", exc) from exc
            raise
        self.in_service_s = time.monotonic() - t0
        self._log(f"endpoint {self.name} InService after {self.in_service_s:.0f}s")
        return Endpoint(url=self.url, protocol="sagemaker-tgi", model=self.cfg.model_id, supports_ignore_eos=False)

    def _create(self, kind: str, call, request: dict) -> None:
        self._owned.append(kind)  # before the call: a lost response must not leak the resource
        self._log(f"create {kind} {self.name}")
        call(**request)

    def _wait_in_service(self) -> None:
        deadline = time.monotonic() + self.cfg.startup_timeout_s
        status = "?"
        while True:
            desc = self.client.describe_endpoint(EndpointName=self.name)
            new = desc.get("EndpointStatus", "?")
            if new != status:
                self._log(f"endpoint {self.name}: {new}")
                status = new
            if status == "InService":
                return
            if status in ("Failed", "OutOfService", "Deleting"):
                reason = desc.get("FailureReason", "no reason given")
                raise EngineError(f"SageMaker endpoint {self.name} is {status}: {reason}"[:400],
                                  f"see CloudWatch log group /aws/sagemaker/Endpoints/{self.name}")
            if time.monotonic() >= deadline:
                raise EngineError(f"SageMaker endpoint {self.name} not InService after "
                                  f"{self.cfg.startup_timeout_s:.0f}s (last status {status})",
                                  "raise engine.startup_timeout_s or check the container logs in CloudWatch")
            time.sleep(min(self.poll_s, max(0.0, deadline - time.monotonic())))

    def stop(self) -> None:
        """Delete endpoint, endpoint config and model (whatever was attempted). Idempotent."""
        self._stopped = True
        leftovers: list[str] = []
        steps = [("endpoint", self.client.delete_endpoint, {"EndpointName": self.name}),
                 ("endpoint-config", self.client.delete_endpoint_config, {"EndpointConfigName": self.name}),
                 ("model", self.client.delete_model, {"ModelName": self.name})] if self._owned else []
        for kind, call, kw in steps:
            if kind not in self._owned:
                continue
            err = self._delete(kind, call, kw)
            if err is None:
                self._owned.remove(kind)
            else:
                leftovers.append(f"{kind} {self.name} ({err})")
        if not self._owned:
            with _live_lock:
                _live.pop(id(self), None)
        if leftovers:
            raise EngineError(f"could not delete SageMaker {'; '.join(leftovers)}"[:400],
                              f"run `deploybench cleanup --region {self.region}`")

    def _delete(self, kind: str, call, kw: dict) -> str | None:
        deadline = time.monotonic() + self.delete_timeout_s
        while True:
            try:
                call(**kw)
                self._log(f"deleted {kind} {self.name}")
                return None
            except Exception as exc:  # noqa: BLE001 (classified below)
                if is_gone(exc):
                    return None
                if _is_busy(exc) and time.monotonic() < deadline:
                    time.sleep(self.poll_s)
                    continue
                code, msg = error_code(exc)
                self._log(f"delete {kind} {self.name} failed: {code}: {msg}")
                return f"{code}: {msg}"[:160]

    def _engine_error(self, what: str, exc: Exception) -> EngineError:
        code, msg = error_code(exc)
        if type(exc).__name__ in ("NoCredentialsError", "PartialCredentialsError"):
            return EngineError("no AWS credentials found",
                               "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in the environment")
        return EngineError(f"SageMaker {what} of {self.name} failed: {code}: {msg}"[:400],
                           _FIXES.get(code, "check the log " + str(self.log_path)))

    def info(self) -> EngineInfo:
        return EngineInfo(
            kind=self.kind, url=self.url, model=self.cfg.model_id, binary=self.image,
            binary_version=f"tgi {self.cfg.tgi_version}" if not self.cfg.image_uri else None,
            extra={"region": self.region, "instance_type": self.cfg.instance_type, "endpoint_name": self.name,
                   "image_uri": self.image, "environment": dict(self.env), "num_gpus": self.cfg.num_gpus,
                   "quantize": self.cfg.quantize, "created_at": self.created_at.isoformat(timespec="seconds"),
                   "in_service_s": self.in_service_s, "cost_estimate_usd": self.cost_estimate,
                   "expected_hours": self.expected_hours, "study_tag": self.study},
        )


class SageMakerPlugin(EnginePlugin):
    """A SageMaker endpoint on a catalog instance type; billed per hour while up."""

    kind = "sagemaker"
    config = SageMakerEngine
    protocols = ("sagemaker-tgi",)
    hardware_kinds = ("instance",)
    startup_s = 600.0
    cloud = True

    def server(self, cfg: SageMakerEngine, log_dir: Path, **context) -> SageMakerDeployment:
        return SageMakerDeployment(cfg, log_dir, price_override=context.get("price_per_hour"))

    def configure(self, point: GridPoint) -> SageMakerEngine:
        hw = point.hardware
        return SageMakerEngine(model_id=point.source, instance_type=hw.instance_type, region=hw.region,
                               quantize=point.quantization, num_gpus=hw.tp or point.gpus or 1, **point.settings)

    def budget(self, cfg: SageMakerEngine) -> tuple[float, float] | None:
        return None if cfg.max_cost is None else (cfg.expected_hours, cfg.max_cost)

    def serving(self, cfg: SageMakerEngine) -> Serving:
        return Serving(model=cfg.model_id, tp=cfg.num_gpus, weight_precision=cfg.quantize,
                       instance_type=cfg.instance_type)

    def calibration_group(self, cfg: SageMakerEngine) -> str:
        """The container's TGI version: a SageMaker endpoint and the 2023 study's cells calibrate together."""
        return f"tgi-{cfg.tgi_version}"

    def find_leftovers(self, region: str, study: str | None = None, older_than_hours: float | None = None) -> list:
        return _aws(region, lambda: find_leftovers(sagemaker_client(region), study=study,
                                                   older_than_hours=older_than_hours))

    def delete_leftovers(self, region: str, leftovers: list, report=None) -> list:
        return _aws(region, lambda: delete_leftovers(sagemaker_client(region), leftovers,
                                                     report or (lambda lo, error: None)))


def _aws(region: str, call):
    """``call()``, an AWS client failure as one line (credentials, region, the service's own error)."""
    try:
        return call()
    except DeploybenchError:
        raise
    except Exception as exc:  # noqa: BLE001 (one line for the user)
        raise aws_error(exc, region) from None


PLUGIN = SageMakerPlugin()
