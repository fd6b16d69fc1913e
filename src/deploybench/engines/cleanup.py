"""Find and delete SageMaker resources that deploybench created and something left behind.

Only resources tagged ``deploybench:managed=true`` are touched (names are not trusted), optionally
narrowed to one study (``deploybench:study``) or to those older than some age.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ..schemas import ConfigError, EngineError
from .aws import CREATED_TAG, MANAGED_TAG, STUDY_TAG, aws_error, error_code, is_gone  # noqa: F401 (aws_error: importable from here as before)

# (kind, list operation, result key, name field, arn field, delete operation, delete argument)
_KINDS = [
    ("endpoint", "list_endpoints", "Endpoints", "EndpointName", "EndpointArn", "delete_endpoint", "EndpointName"),
    ("endpoint-config", "list_endpoint_configs", "EndpointConfigs", "EndpointConfigName", "EndpointConfigArn",
     "delete_endpoint_config", "EndpointConfigName"),
    ("model", "list_models", "Models", "ModelName", "ModelArn", "delete_model", "ModelName"),
]


@dataclass
class Leftover:
    kind: str
    name: str
    arn: str
    tags: dict[str, str] = field(default_factory=dict)
    status: str | None = None
    engine: str = "sagemaker"  # the engine plugin that deletes it

    @property
    def study(self) -> str:
        return self.tags.get(STUDY_TAG, "")

    @property
    def created(self) -> str:
        return self.tags.get(CREATED_TAG, "")

    def age_hours(self, now: datetime | None = None) -> float | None:
        try:
            t = datetime.strptime(self.created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        except ValueError:
            return None
        return ((now or datetime.now(timezone.utc)) - t).total_seconds() / 3600


def _pages(client: Any, op: str, key: str):
    if client.can_paginate(op):
        for page in client.get_paginator(op).paginate():
            yield from page.get(key, [])
    else:
        yield from getattr(client, op)().get(key, [])


def _tags(client: Any, arn: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    kw: dict = {"ResourceArn": arn}
    for _ in range(100):  # bounded: 100 pages of tags is far beyond the 50-tag limit
        resp = client.list_tags(**kw)
        tags.update({t["Key"]: t["Value"] for t in resp.get("Tags", [])})
        if not resp.get("NextToken"):
            break
        kw["NextToken"] = resp["NextToken"]
    return tags


def find_leftovers(client: Any, study: str | None = None, older_than_hours: float | None = None) -> list[Leftover]:
    """Every deploybench-managed endpoint, endpoint config and model (in deletion order)."""
    found: list[Leftover] = []
    for kind, op, key, name_f, arn_f, _, _ in _KINDS:
        for item in _pages(client, op, key):
            try:
                tags = _tags(client, item[arn_f])
            except Exception as exc:  # noqa: BLE001 (deleted meanwhile: skip)
                if is_gone(exc):
                    continue
                raise
            if tags.get(MANAGED_TAG) != "true":
                continue
            lo = Leftover(kind, item[name_f], item[arn_f], tags, item.get("EndpointStatus"))
            if study is not None and lo.study != study:
                continue
            if older_than_hours is not None:
                age = lo.age_hours()
                if age is not None and age < older_than_hours:
                    continue
            found.append(lo)
    return found


def delete_leftovers(client: Any, leftovers: list[Leftover],
                     on_result: Callable[[Leftover, str | None], None] | None = None) -> list[tuple[Leftover, str | None]]:
    """Delete each (endpoints first); returns ``(leftover, error or None)`` per item."""
    delete = {k[0]: (k[5], k[6]) for k in _KINDS}
    order = {k[0]: i for i, k in enumerate(_KINDS)}
    results = []
    for lo in sorted(leftovers, key=lambda x: order[x.kind]):
        op, arg = delete[lo.kind]
        error = None
        try:
            getattr(client, op)(**{arg: lo.name})
        except Exception as exc:  # noqa: BLE001 (reported per item)
            if not is_gone(exc):
                code, msg = error_code(exc)
                error = f"{code}: {msg}"[:200]
        results.append((lo, error))
        if on_result:
            on_result(lo, error)
    return results
