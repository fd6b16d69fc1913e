"""AWS primitives shared by the SageMaker engine and the leftover cleanup: deploybench's tags and the
reading of a boto3 client error."""

from __future__ import annotations

import re

from ..schemas import ConfigError, EngineError

MANAGED_TAG = "deploybench:managed"
STUDY_TAG = "deploybench:study"
CREATED_TAG = "deploybench:created"


def error_code(exc: BaseException) -> tuple[str, str]:
    resp = getattr(exc, "response", None) or {}
    err = resp.get("Error", {}) if isinstance(resp, dict) else {}
    return str(err.get("Code", type(exc).__name__)), str(err.get("Message", exc))


def is_gone(exc: BaseException) -> bool:
    code, msg = error_code(exc)
    return code in ("ValidationException", "ResourceNotFound") and bool(
        re.search(r"could not find|does not exist|not found", msg, re.I))


def aws_error(exc: BaseException, region: str) -> ConfigError | EngineError:
    """An AWS client failure as one line: missing credentials, unreachable region, or the service's own error."""
    name = type(exc).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError"):
        return ConfigError("no AWS credentials found", "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY")
    if name in ("NoRegionError", "EndpointConnectionError"):
        return ConfigError(f"cannot reach SageMaker in region {region}: {exc}", "check --region and your network")
    resp = getattr(exc, "response", None) or {}
    err = resp.get("Error", {}) if isinstance(resp, dict) else {}
    return EngineError(f"SageMaker: {err.get('Code', name)}: {err.get('Message', exc)}"[:300],
                       "check your AWS credentials, region and IAM permissions")
