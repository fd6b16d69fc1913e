"""How many devices one deployment serves on, and what a device is: the divisor of "tokens/s per device".

A device is a GPU; for a deployment on CPUs it is a vCPU. The count is read from what the stored cell
says, in this order (the first that answers wins, and :attr:`Devices.source` names it):

1. ``labels["gpus"]``: an imported cell's GPU count (``deploybench import --gpus``, the table format's
   ``gpus`` column), or a ``gpus`` label a study gives its deployment;
2. the engine plugin's :class:`~deploybench.schemas.Serving` of the stored engine config: ``devices``
   (tensor x pipeline parallel degree: the GPUs one replica is split over), or an imported cell's ``tp``
   label (the 2023 study's ``num_gpus``);
3. the catalog entry of the instance type (the engine's own, else ``labels["hardware"]``): its GPU count,
   or for a CPU instance type its vCPU count;
4. the engine's CPU threads (``Serving.threads``): a local CPU profile is priced as that many vCPUs
   (``price_per_vcpu_hour``), so they are the devices the price pays for.

Otherwise the count is unknown and throughput per device is not shown (cost per 1M tokens still is).
"""

from __future__ import annotations

from pydantic import BaseModel

from ..catalog import Catalog
from ..schemas import RunMeta, Serving
from ..schemas import plugins

GPU, VCPU = "GPU", "vCPU"
NO_COUNT = ("no device count: its engine config names no GPUs or threads and its hardware is not a catalog "
            "instance type; give the deployment a label gpus: N (import: --gpus N)")


class Devices(BaseModel):
    """The devices one deployment runs on: how many, of which unit, and where the count comes from."""

    count: int | None = None
    unit: str | None = None  # GPU | vCPU
    source: str = NO_COUNT

    @property
    def text(self) -> str:
        return f"{self.count} {self.unit}" if self.count else "unknown"


def _whole(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and int(text) > 0 else None


def _serving(meta: RunMeta) -> Serving:
    cfg = plugins.stored_config((meta.deployment_config or {}).get("engine"))
    return plugins.serving(cfg) if cfg is not None else Serving()


def devices_of(meta: RunMeta, catalog: Catalog) -> Devices:
    """The devices of the deployment a stored cell belongs to (see the module's order)."""
    labels = meta.labels or {}
    gpus = _whole(labels.get("gpus"))
    if gpus:
        return Devices(count=gpus, unit=GPU, source="the cell's gpus label")
    serving = _serving(meta)
    if serving.devices:
        return Devices(count=serving.devices, unit=GPU, source="engine config (tensor x pipeline parallel degree)")
    tp = _whole(labels.get("tp"))
    if tp and labels.get("source"):  # imported: the source's own TP degree (the 2023 study: num_gpus)
        return Devices(count=tp, unit=GPU, source="the imported cell's tp label (GPUs the model is split over)")
    for name in (serving.instance_type, labels.get("hardware")):
        if name and name in catalog:
            entry = catalog.get(name)
            if entry.gpu_count > 0:
                return Devices(count=entry.gpu_count, unit=GPU, source=f"catalog: {name} has {entry.gpu_count} GPU{'s' * (entry.gpu_count > 1)}")
            if entry.vcpus and entry.platform != "local":
                return Devices(count=entry.vcpus, unit=VCPU, source=f"catalog: {name} has {entry.vcpus} vCPUs")
    if serving.threads:
        return Devices(count=serving.threads, unit=VCPU,
                       source=f"engine threads ({serving.threads}): the vCPUs a CPU profile is priced on")
    return Devices()


def devices_by_run(cells, catalog: Catalog) -> dict[str, Devices]:
    """``{run_id: Devices}`` of stored cells (anything with ``.meta`` and ``.summary``)."""
    return {c.summary.run_id: devices_of(c.meta, catalog) for c in cells}
