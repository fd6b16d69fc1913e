"""Features of a deployment before (or while) it is measured: what ``meta.json`` stores and ``--prune`` predicts.

:func:`deployment_features` needs only the deployment's config, the workload, the level and,
for a GGUF model, the file's path; no stored run. :func:`features_or_why` never raises: a run
stores ``features: null`` and the reason instead (features must never make a run fail).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from ..catalog import Catalog, load_catalog
from ..schemas import ConfigError, DeploybenchError, Serving
from ..schemas import plugins
from .features import (Architecture, CellFeatures, HardwareFeatures, Workload, arch_from_gguf, arch_from_hf_config,
                       bits_per_weight, catalog_arch, hardware_features, llama2_arch, measure_cpu_bandwidth)

__all__ = ["cpu_hardware", "deployment_features", "features_or_why", "host_figures", "kv_bits", "model_arch",
           "serving_hardware", "workload_of"]


@functools.lru_cache(maxsize=1)
def host_figures() -> dict[str, float]:
    """This host's measured memory bandwidth and float32 FLOP/s (measured once per process)."""
    return measure_cpu_bandwidth()


def model_arch(refs: list[str], model_path: str | Path | None) -> tuple[Architecture, float | None]:
    """(architecture, bits per weight read from the file or None) from a Llama 2 label/id, a GGUF
    file, a local Hugging Face folder with ``config.json``, or a model of the catalog's table
    (``catalog/models.yaml``, by name, Hugging Face id or alias)."""
    for ref in refs:
        a = llama2_arch(ref or "")
        if a is not None:
            return a, None
    if model_path:
        p = Path(model_path)
        if p.is_file():
            return arch_from_gguf(p)
        if (p / "config.json").is_file():
            return arch_from_hf_config(p / "config.json", name=p.name), None
    for ref in refs:
        a = catalog_arch(ref) if ref else None
        if a is not None:
            return a, None
    raise ConfigError(f"model '{(refs or ['?'])[0]}' has no known architecture",
                      "serve a GGUF file or a local Hugging Face folder (config.json), or use a model of "
                      "catalog/models.yaml")


def cpu_hardware(name: str, threads: int | None, price_per_hour: float | None,
                 host: dict[str, Any]) -> HardwareFeatures:
    """A local CPU profile: this host's measured bandwidth; FLOP/s scaled to the threads used."""
    cores = os.cpu_count() or 1
    used = min(threads or cores, cores)
    return HardwareFeatures(name=name or "local-cpu", family="cpu", devices=1, memory_gib=8.0,
                            bandwidth_gbs=host["bandwidth_gbs"], peak_tflops={"fp16": host["tflops"] * used / cores},
                            price_per_hour=price_per_hour, source=host["source"])


def serving_hardware(name: str, price: float | None, serving: Serving, catalog: Catalog) -> HardwareFeatures:
    """Hardware features from the deployment's hardware and what its engine says it uses (the plugin's
    :class:`~deploybench.schemas.Serving`: the instance type it names, its device count, its threads)."""
    inst = serving.instance_type or name
    if inst in catalog and catalog.get(inst).gpu_count > 0:
        return hardware_features(inst, serving.devices, catalog, price)
    return cpu_hardware(name, serving.threads, price, host_figures())


def kv_bits(serving: Serving) -> float:
    """Bits per KV-cache element of the engine's KV precision (fp16 when it does not say)."""
    return bits_per_weight(serving.kv_precision) if serving.kv_precision else 16.0


def workload_of(workload, prompts=None) -> Workload:
    """Mean/median prompt tokens (from the prompts' approximate lengths, else the synthetic setting) and
    output tokens (``max_tokens``)."""
    lengths = sorted(p.approx_tokens for p in (prompts or []) if getattr(p, "approx_tokens", 0))
    src = workload.source
    if lengths:
        mean, median, how = sum(lengths) / len(lengths), lengths[len(lengths) // 2], "the prompts' approximate tokens"
    elif getattr(src, "input_tokens", None):
        mean = median = float(src.input_tokens)
        how = "synthetic input_tokens"
    else:
        mean = median = 128.0
        how = "prompt length unknown: 128 assumed"
    return Workload(input_mean=max(1.0, mean), input_median=max(1.0, median),
                    output_tokens=float(workload.max_tokens), source=f"{how}; max_tokens")


def deployment_features(dep, concurrency: int, workload: Workload, model_path: str | Path | None = None,
                        level: str = "", catalog: Catalog | None = None) -> CellFeatures:
    """Features of deployment ``dep`` (a :class:`~deploybench.schemas.Deployment`) at ``concurrency`` users."""
    catalog = catalog or load_catalog()
    serving = plugins.serving(dep.engine)  # the engine's plugin says what its config means
    refs = [dep.labels.get("model_id", ""), serving.model, dep.labels.get("model", "")]
    arch, file_bits = model_arch([r for r in refs if r], model_path)
    quant = dep.labels.get("quantization") or serving.weight_precision or "native"
    bits = file_bits or bits_per_weight(quant)
    return CellFeatures(run_id="", deployment=dep.name, model=dep.labels.get("model", arch.name), arch=arch,
                        quantization=quant, bits=bits, kv_bits=kv_bits(serving),
                        hardware=serving_hardware(dep.hardware.name, dep.hardware.price_per_hour, serving, catalog),
                        engine=plugins.calibration_group(dep.engine), concurrency=max(1, concurrency),
                        max_batch=serving.batch_slots, workload=workload, level=level, pp=serving.pp or 1)


def features_or_why(dep, concurrency: int, workload, prompts=None, model_path=None, level: str = "",
                    run_id: str = "") -> tuple[dict[str, Any] | None, str | None]:
    """(features as JSON, None) or (None, why not): never raises, so a run cannot fail on features."""
    try:
        f = deployment_features(dep, concurrency, workload_of(workload, prompts), model_path, level)
        return f.model_copy(update={"run_id": run_id}).model_dump(mode="json"), None
    except DeploybenchError as exc:
        return None, f"no features: {exc.line()}"
    except Exception as exc:  # noqa: BLE001 - a measurement must never fail on its features
        return None, f"no features: {type(exc).__name__}: {str(exc)[:160]}"
