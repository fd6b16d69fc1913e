"""How an engine schedules the KV cache, as the predictor needs it: admission policy and attention data parallelism.

* **KV admission** (``reserve`` | ``on-demand``): an engine that *reserves* admits a request only when the KV
  cache of its whole prompt + output fits (TensorRT-LLM's default ``GUARANTEED_NO_EVICT``, TGI's token budget);
  an *on-demand* engine admits a request when its prompt fits and grows its cache block by block, so that when
  the cache runs out it preempts running requests (vLLM: recompute; SGLang: retract) and runs them again later.
  An installed engine plugin says it (``EnginePlugin.kv_admission``); an engine with no plugin here (an imported
  table's label) is looked up in :data:`KV_ADMISSION` by its kind; anything else reserves (the model's behaviour
  before it knew the difference).
* **Attention data parallelism**: SGLang's ``--enable-dp-attention`` (``--dp`` / ``--dp-size`` ranks; 0.4.x
  sets it to the TP degree when absent), TensorRT-LLM's ``enable_attention_dp``: attention runs data-parallel over groups of TP / dp ranks, each caching only
  its own requests, so the KV copies a TP deployment keeps of a shared latent (MLA) or of too few KV heads fall
  by that factor. Read from the free-text ``engine_settings`` of an imported table (:func:`attention_dp`).
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..schemas import engine_plugins

__all__ = ["KV_ADMISSION", "attention_dp", "kv_admission"]

# engine kind (the label's first word: "vllm", "sglang", "tensorrt-llm") -> KV admission, for engines whose
# plugin is not installed (imported tables); an installed plugin's own ``kv_admission`` comes first
KV_ADMISSION: dict[str, str] = {"vllm": "on-demand", "sglang": "on-demand", "tensorrt-llm": "reserve", "trt-llm": "reserve",
                                "tgi": "reserve"}

_KIND = re.compile(r"^[a-z][a-z0-9_]*(?:-(?:llm|lm))?", re.IGNORECASE)


@lru_cache(maxsize=256)
def kv_admission(engine: str) -> str:
    """``on-demand`` or ``reserve`` for a calibration group's engine label (``vllm``, ``tgi-1.0.3``)."""
    label = (engine or "").split("|")[0].strip().lower()
    m = _KIND.match(label)
    kind = m.group(0) if m else label
    try:
        plugin = engine_plugins().get(kind)
    except Exception:  # noqa: BLE001 - a plugin that fails to load says nothing here
        plugin = None
    policy = getattr(plugin, "kv_admission", None) if plugin is not None else None
    return policy or KV_ADMISSION.get(kind, "reserve")


_DP_FLAG = re.compile(r"--enable-dp-attention\b|\benable_attention_dp\b\s*[:=]?\s*(true|1)?", re.IGNORECASE)
_DP_SIZE = re.compile(r"(?:--dp-size|--dp)[ =](\d+)")


def attention_dp(settings: str | None, tp: int) -> int:
    """Data-parallel attention ranks that the free-text ``settings`` give a TP-``tp`` deployment (1: none).

    ``--enable-dp-attention`` (SGLang) or ``enable_attention_dp`` (TensorRT-LLM, unless ``false``) with
    ``--dp N`` / ``--dp-size N``: N, else ``tp``; capped at ``tp`` and made a divisor of it. Other data
    parallelism (vLLM's ``--data-parallel-size``: whole replicas) does not change the copies."""
    text = settings or ""
    size = _DP_SIZE.search(text)
    n = int(size.group(1)) if size else None
    m = _DP_FLAG.search(text)
    on = m is not None and not re.search(r"enable_attention_dp\b\s*[:=]\s*(false|0)", text, re.IGNORECASE)
    if not on:
        return 1
    n = n or tp
    n = max(1, min(n, tp))
    while tp % n:
        n -= 1
    return n
