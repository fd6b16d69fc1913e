"""Typed features of one cell: model architecture, quantization, hardware, workload, level.

Everything the performance model (:mod:`.model`) needs, as plain pydantic values, read from a
GGUF header, a Hugging Face ``config.json``, the published Llama 2 architectures (constants below),
the hardware catalog, and a stored run's ``meta.json`` / ``summary.json``. No clocks here except
:func:`measure_cpu_bandwidth`, which times a numpy copy on this host.
"""

from __future__ import annotations

import json
import re
import time
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..catalog import Catalog, GpuSpec, HardwareEntry, ModelArchitecture, architecture, load_catalog
from ..engines.modelgen.gguf import model_header
from .scheduling import kv_admission
from ..schemas import ConfigError

__all__ = ["ACTIVATION_DTYPE", "Architecture", "arch_from_catalog", "catalog_arch", "gpu_features", "CellFeatures", "HardwareFeatures", "LLAMA2", "QUANT_BITS", "Workload",
           "arch_from_gguf", "arch_from_hf_config", "bits_per_weight", "hardware_features",
           "measure_cpu_bandwidth", "SEED_WORKLOAD"]


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Architecture(_M):
    """A decoder-only transformer, as far as time and memory go."""

    name: str
    layers: int = Field(ge=1)
    hidden: int = Field(ge=1)
    heads: int = Field(ge=1)
    kv_heads: int = Field(ge=1)
    ffn: int = Field(ge=1, description="feed-forward (intermediate) size; gated MLP = 3 matrices")
    vocab: int = Field(ge=1)
    context: int = Field(0, ge=0)
    tied_embeddings: bool = False
    source: str = ""
    # From the catalog's model table (catalog/models.yaml) where the shape is not a plain dense Llama:
    head_size: int | None = Field(None, ge=1, description="per-head width where it is not hidden / heads")
    dense_matrix_params: int | None = Field(None, ge=0, description="matrix weights outside the routed experts, all "
                                            "layers (None: layers x linear_params_per_layer)")
    experts: int = Field(0, ge=0, description="routed experts per MoE layer (0: dense)")
    experts_per_tok: int = Field(0, ge=0)
    moe_layers: int = Field(0, ge=0, description="layers whose MLP is routed experts")
    expert_params: int = Field(0, ge=0, description="weights of one routed expert in one layer")
    kv_elems_per_layer: int | None = Field(None, ge=1, description="KV-cache elements per token per layer (MLA: "
                                           "latent + RoPE key); None: 2 x kv_heads x head_dim")
    kv_replicated: bool = Field(False, description="every TP rank caches the whole token (MLA's shared latent)")
    attention_params: int = Field(0, ge=0, description="attention projection weights, all layers (0: unknown); "
                                  "data-parallel attention keeps a copy per attention group")
    attn_flops_decode: int | None = Field(None, ge=0, description="attention FLOPs per token per context token per "
                                          "layer in decode (None: 4 x heads x head_dim)")
    attn_flops_prefill: int | None = Field(None, ge=0, description="the same in prefill")

    @property
    def head_dim(self) -> int:
        return self.head_size or self.hidden // self.heads

    @cached_property
    def linear_params_per_layer(self) -> int:
        """q, o (d x d), k, v (d x kv_heads*head_dim), gate/up/down (d x ffn)."""
        d, kv = self.hidden, self.kv_heads * self.head_dim
        return 2 * d * self.heads * self.head_dim + 2 * d * kv + 3 * d * self.ffn

    @cached_property
    def matrix_params(self) -> int:
        """Weights of all layers' matrices held in memory (besides the embeddings / output head)."""
        if self.dense_matrix_params is None:
            return self.layers * self.linear_params_per_layer
        return self.dense_matrix_params + self.moe_layers * self.experts * self.expert_params

    @cached_property
    def active_matrix_params(self) -> int:
        """Matrix weights one token passes through (= matrix_params for a dense model)."""
        if not self.experts:
            return self.matrix_params
        return (self.dense_matrix_params or 0) + self.moe_layers * self.experts_per_tok * self.expert_params

    def matrix_params_read(self, batch: float) -> float:
        """Matrix weights one forward pass over ``batch`` tokens reads: all of a dense model; of an MoE, the
        experts the batch routes to, E x (1 - (1 - k/E)^batch) per layer under uniform routing."""
        if not self.experts:
            return float(self.matrix_params)
        hit = self.experts * (1.0 - (1.0 - self.experts_per_tok / self.experts) ** max(1.0, batch))
        return (self.dense_matrix_params or 0) + self.moe_layers * hit * self.expert_params

    @cached_property
    def params(self) -> int:
        emb = self.vocab * self.hidden * (1 if self.tied_embeddings else 2)
        return self.layers * 2 * self.hidden + self.matrix_params + emb + self.hidden

    def kv_bytes_per_token(self, kv_bytes: float = 2.0) -> float:
        """K and V (or MLA's latent) of one token, all layers (fp16 cache by default)."""
        return self.layers * (self.kv_elems_per_layer or 2 * self.kv_heads * self.head_dim) * kv_bytes

    def attn_flops(self, prefill: bool = False) -> int:
        """Attention FLOPs per token per context token per layer (QK^T and AV)."""
        own = self.attn_flops_prefill if prefill else self.attn_flops_decode
        return own if own is not None else 4 * self.heads * self.head_dim


_META_SRC = ("Touvron et al. 2023, 'Llama 2: Open Foundation and Fine-Tuned Chat Models' (arXiv:2307.09288) "
             "Table 1, and meta-llama/Llama-2-{}-hf config.json on Hugging Face (recalled, not fetched here)")
LLAMA2: dict[str, Architecture] = {
    "7B": Architecture(name="Llama-2-7B", layers=32, hidden=4096, heads=32, kv_heads=32, ffn=11008, vocab=32000,
                       context=4096, source=_META_SRC.format("7b")),
    "13B": Architecture(name="Llama-2-13B", layers=40, hidden=5120, heads=40, kv_heads=40, ffn=13824, vocab=32000,
                        context=4096, source=_META_SRC.format("13b")),
    "70B": Architecture(name="Llama-2-70B", layers=80, hidden=8192, heads=64, kv_heads=8, ffn=28672, vocab=32000,
                        context=4096, source=_META_SRC.format("70b")),
}

# Bits per weight of the matrices (embeddings/output head stay 16-bit for GPTQ/AWQ). GGUF figures are
# llama.cpp's block sizes (e.g. Q4_0 = 18 bytes per 32 weights = 4.5); K-quant mixes are typical values
# for Llama models. A GGUF file's own tensor sizes override these (arch_from_gguf -> bits).
QUANT_BITS: dict[str, float] = {
    "none": 16.0, "native": 16.0, "fp16": 16.0, "bf16": 16.0, "f16": 16.0, "f32": 32.0, "fp8": 8.0, "int8": 8.0,
    "fp8_e4m3": 8.0, "fp8_e5m2": 8.0, "w8a8-fp8": 8.0,
    "nvfp4": 4.5,  # 4-bit E2M1 + an FP8 scale per 16 weights
    "fp4": 4.5, "mxfp4": 4.25,  # MX: an 8-bit scale per 32 weights
    "eetq": 8.0, "bitsandbytes": 8.0, "awq": 4.25,
    "gptq": 4.156,  # 4-bit, group size 128: + fp16 scale and 4-bit zero per 128 weights
    "q8_0": 8.5, "q6_k": 6.5625, "q5_k_m": 5.69, "q5_k_s": 5.54, "q5_1": 6.0, "q5_0": 5.5,
    "q4_k_m": 4.85, "q4_k_s": 4.58, "q4_1": 5.0, "q4_0": 4.5, "q3_k_m": 3.91, "q3_k_s": 3.5, "q2_k": 3.0,
}


# Formats that quantize activations too, so the matrix multiplies run at that dtype's own peak
# (``GpuSpec.peak``); any other format below 12 bits is weight-only (dequantized to fp16 to multiply).
ACTIVATION_DTYPE: dict[str, str] = {"fp8": "fp8", "fp8_e4m3": "fp8", "fp8_e5m2": "fp8", "w8a8-fp8": "fp8",
                                    "fp4": "fp4", "nvfp4": "fp4", "mxfp4": "fp4"}


def bits_per_weight(quantization: str | None) -> float:
    """Bits per matrix weight of a quantization name (case-insensitive); ConfigError if unknown."""
    q = (quantization or "none").strip().lower()
    if q not in QUANT_BITS:
        raise ConfigError(f"quantization '{quantization}' has no known bits per weight",
                          f"use one of: {', '.join(sorted(QUANT_BITS))}, or pass the GGUF file")
    return QUANT_BITS[q]


def arch_from_hf_config(config: dict[str, Any] | Path | str, name: str | None = None) -> Architecture:
    """Architecture from a Hugging Face ``config.json`` (a dict or its path)."""
    label = str(config) if not isinstance(config, dict) else "config.json"
    if not isinstance(config, dict):
        try:
            config = json.loads(Path(config).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{label}: cannot be read ({exc})", "give a Hugging Face config.json") from None
    need = ("num_hidden_layers", "hidden_size", "num_attention_heads", "intermediate_size", "vocab_size")
    missing = [k for k in need if k not in config]
    if missing:
        raise ConfigError(f"{label}: missing field '{missing[0]}'", "give a decoder-only model's config.json")
    return Architecture(
        name=name or str(config.get("_name_or_path") or config.get("model_type") or "model"),
        layers=config["num_hidden_layers"], hidden=config["hidden_size"], heads=config["num_attention_heads"],
        kv_heads=config.get("num_key_value_heads") or config["num_attention_heads"],
        ffn=config["intermediate_size"], vocab=config["vocab_size"],
        context=config.get("max_position_embeddings") or 0,
        tied_embeddings=bool(config.get("tie_word_embeddings", False)), source=f"{label} (Hugging Face config)")


def arch_from_gguf(path: Path | str) -> tuple[Architecture, float]:
    """(architecture, bits per weight of its matrices) from a GGUF file's header and tensor table.

    Reads the header with :func:`deploybench.engines.modelgen.gguf.model_header` (array contents
    skipped: milliseconds, where a full tokenizer decode takes seconds); a tensor's bytes from the
    ``gguf`` package's block sizes.
    """
    try:
        from gguf import GGML_QUANT_SIZES
    except ImportError:
        raise ConfigError("reading GGUF tensor sizes needs the 'gguf' package", "pip install gguf") from None
    path = Path(path)
    hdr = model_header(path, "model architecture")
    arch = hdr.get("general.architecture") or "llama"
    get = lambda k: hdr.get(f"{arch}.{k}")  # noqa: E731
    heads, hidden = get("attention.head_count"), get("embedding_length")
    if get("block_count") is None or hidden is None or heads is None:
        raise ConfigError(f"{path}: GGUF header lacks {arch}.block_count/embedding_length/attention.head_count",
                          "give a transformer GGUF written by llama.cpp or the gguf package")
    first = lambda v: v[0] if isinstance(v, list) else v  # noqa: E731 - per-layer arrays: the first layer
    mats = [t for t in hdr.tensors if t.name.startswith("blk.") and len(t.shape) == 2]
    nbytes = sum(t.n_elements * GGML_QUANT_SIZES[t.ggml_type][1] / GGML_QUANT_SIZES[t.ggml_type][0] for t in mats)
    bits = 8 * nbytes / max(1, sum(t.n_elements for t in mats))
    tokens = hdr.kv.get("tokenizer.ggml.tokens")
    ffn = first(get("feed_forward_length")) or 4 * int(hidden)
    a = Architecture(name=path.stem, layers=int(get("block_count")), hidden=int(hidden), heads=int(first(heads)),
                     kv_heads=int(first(get("attention.head_count_kv")) or first(heads)), ffn=int(ffn),
                     vocab=int(get("vocab_size") or (tokens.count if tokens else 0) or 32000),
                     context=int(get("context_length") or 0),
                     tied_embeddings="output.weight" not in {t.name for t in hdr.tensors},
                     source=f"GGUF header of {path.name}")
    return a, bits


class HardwareFeatures(_M):
    """Per-device figures and how many devices one replica uses."""

    name: str
    family: str
    devices: int = Field(ge=1, description="devices one replica uses (TP degree; 1 for a CPU host)")
    memory_gib: float = Field(gt=0, description="per device")
    bandwidth_gbs: float = Field(gt=0, description="per device")
    peak_tflops: dict[str, float] = Field(default_factory=dict)
    interconnect: str | None = None
    interconnect_gbs: float | None = None
    price_per_hour: float | None = None
    source: str = ""
    recalled: bool = False

    def tflops(self, dtype: str = "fp16") -> float:
        """Dense peak for ``dtype``; a GPU without that format runs it at the next wider one it has (fp4 on an
        H100 multiplies at its fp8 peak), down to fp16 and fp32."""
        order = ("fp4", "fp8", "fp16", "bf16", "fp32")
        chain = order[order.index(dtype):] if dtype in order else (dtype, *order[2:])
        return next((self.peak_tflops[d] for d in chain if self.peak_tflops.get(d)), 1.0)


def _peaks(spec: GpuSpec) -> dict[str, float]:
    """Dense peaks by dtype, each as ``GpuSpec.peak`` gives it (fp16 and bf16 stand in for each other)."""
    out = {d: spec.peak(d) for d in ("fp4", "fp8", "fp16", "bf16", "int8", "fp32")}
    return {d: v for d, v in out.items() if v}


def gpu_features(gpu: str, devices: int, catalog: Catalog | None = None,
                 price_per_hour: float | None = None) -> HardwareFeatures:
    """Hardware features of ``devices`` catalog GPUs named directly (an imported table's ``hardware`` column:
    ``H200-SXM-141GB``); the calibration family is the GPU model."""
    cat = catalog or load_catalog()
    key = next((k for k in cat.gpus if k.lower() == gpu.strip().lower()), None)
    if key is None:
        raise ConfigError(f"hardware '{gpu}' is neither an instance type nor a GPU in the catalog",
                          f"use a GPU of `deploybench catalog` ({', '.join(sorted(cat.gpus))}) or an instance type")
    spec = cat.gpus[key]
    return HardwareFeatures(name=key, family=key, devices=max(1, devices), memory_gib=spec.memory_gib,
                            bandwidth_gbs=spec.memory_bandwidth_gbs, peak_tflops=_peaks(spec),
                            interconnect=spec.interconnect, interconnect_gbs=spec.interconnect_gbs,
                            price_per_hour=price_per_hour, source=spec.source or "", recalled=spec.recalled)


def hardware_features(name: str, tp: int | None = None, catalog: Catalog | None = None,
                      price_per_hour: float | None = None, cpu: dict[str, float] | None = None) -> HardwareFeatures:
    """Hardware features of catalog entry ``name`` at tensor-parallel degree ``tp``.

    A GPU-less entry (a CPU profile) needs ``cpu``: ``{"bandwidth_gbs": ..., "tflops": ..., "memory_gib": ...}``,
    e.g. from :func:`measure_cpu_bandwidth`.
    """
    cat = catalog or load_catalog()
    e: HardwareEntry = cat.get(name)
    if e.gpu_count == 0:
        if not cpu:
            raise ConfigError(f"hardware '{name}' is a CPU host: its memory bandwidth must be measured",
                              "run `deploybench predict host` on that machine (or pass cpu figures)")
        return HardwareFeatures(name=e.name, family="cpu", devices=1, memory_gib=cpu.get("memory_gib", 8.0),
                                bandwidth_gbs=cpu["bandwidth_gbs"], peak_tflops={"fp32": cpu.get("tflops", 0.1)},
                                price_per_hour=price_per_hour, source=cpu.get("source", "measured on this host"))
    spec = cat.gpus.get(e.gpu_model or "")
    if spec is None or e.memory_bandwidth_gbs is None or e.gpu_memory_gib is None:
        raise ConfigError(f"hardware '{name}': GPU model '{e.gpu_model}' has no figures in the catalog",
                          "add it under gpus: (memory_gib, memory_bandwidth_gbs, peak_tflops) in a catalog file")
    tp = tp or e.gpu_count
    if tp > e.gpu_count:
        raise ConfigError(f"tp {tp} exceeds the {e.gpu_count} GPU(s) of '{name}'", f"use tp <= {e.gpu_count}")
    return HardwareFeatures(name=e.name, family=e.family or e.name, devices=tp, memory_gib=e.gpu_memory_gib,
                            bandwidth_gbs=e.memory_bandwidth_gbs, peak_tflops=_peaks(spec),
                            interconnect=spec.interconnect, interconnect_gbs=e.interconnect_gbs,
                            price_per_hour=price_per_hour, source=spec.source or "", recalled=spec.recalled)


def measure_cpu_bandwidth(mib: int = 128, repeats: int = 5) -> dict[str, float]:
    """This host's memory bandwidth (GB/s): best of ``repeats`` numpy copies of ``mib`` MiB.

    A copy reads and writes each byte once, so bytes moved = 2 x size. Also float32 matmuls (numpy's
    BLAS, all cores) for peak FLOP/s. Takes about a second.
    """
    import numpy as np

    a = np.ones(mib * 2**20 // 8, dtype=np.float64)
    b = np.empty_like(a)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t0)
    m = np.ones((1024, 1024), dtype=np.float32)
    fastest = float("inf")
    for _ in range(repeats):  # best of: a busy host slows some tries, never speeds one up
        t0 = time.perf_counter()
        m @ m
        fastest = min(fastest, time.perf_counter() - t0)
    return {"bandwidth_gbs": 2 * a.nbytes / best / 1e9, "tflops": 2 * 1024**3 / fastest / 1e12,
            "source": f"measured: numpy copy of {mib} MiB, float32 1024x1024 matmul (best of {repeats} each)"}


class Workload(_M):
    input_mean: float = Field(gt=0, description="prompt tokens, mean")
    input_median: float = Field(gt=0, description="prompt tokens, median")
    output_tokens: float = Field(gt=0, description="generated tokens per request")
    source: str = ""


# The 2023 study's prompts (seed-data samples.json, column n1 over all 1000 prompts; the test
# recomputes these from the file) and its max_new_tokens = 50.
SEED_WORKLOAD = Workload(input_mean=233.094, input_median=95.5, output_tokens=50,
                         source="seed-data samples.json n1 (1000 ShareGPT prompts), max_new_tokens=50")


class CellFeatures(_M):
    """Everything the model needs about one cell (deployment x level)."""

    run_id: str = ""
    deployment: str = ""
    model: str = Field(description="model group label, e.g. 7B")
    arch: Architecture
    quantization: str
    bits: float = Field(gt=0, description="bits per matrix weight")
    kv_bits: float = Field(16.0, gt=0, description="bits per KV-cache element: the engine's KV precision (fp16 "
                           "unless its plugin says otherwise)")
    hardware: HardwareFeatures
    engine: str = Field(description="engine kind and version, e.g. tgi-1.0.3")
    concurrency: int = Field(ge=1)
    max_batch: int | None = Field(None, description="engine's slot / batch limit, if set")
    workload: Workload
    level: str = Field("", description="the load level's key (c4, r2-poisson); empty in older stores")
    pp: int = Field(1, ge=1, description="pipeline stages; hardware.devices = TP x PP")
    attention_dp: int = Field(1, ge=1, description="data-parallel attention ranks (SGLang --enable-dp-attention): "
                              "each caches only its own requests' KV (predict/scheduling.py)")
    kv_admission: str | None = Field(None, description="reserve | on-demand: how the engine admits requests to "
                                     "its KV cache; None: from the engine label (predict/scheduling.py)")

    @property
    def tp(self) -> int:
        return max(1, self.hardware.devices // self.pp)

    @property
    def compute_dtype(self) -> str:
        """The dtype the matrix multiplies run at: fp8 / fp4 for formats that quantize activations, else fp16."""
        return ACTIVATION_DTYPE.get(self.quantization.strip().lower(), "fp16")

    @property
    def weight_only(self) -> bool:
        """Weight-only quantized (GPTQ, AWQ, GGUF types): narrow weights dequantized to multiply."""
        return self.bits < 12 and self.compute_dtype == "fp16"

    @property
    def admission(self) -> str:
        """``reserve`` or ``on-demand`` (:func:`~.scheduling.kv_admission` of the engine label unless set)."""
        return self.kv_admission or kv_admission(self.engine)

    @property
    def group(self) -> str:
        """Calibration group: engine x hardware family."""
        return f"{self.engine}|{self.hardware.family}"


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*b\b", re.IGNORECASE)


def llama2_arch(label: str) -> Architecture | None:
    """The Llama 2 architecture for a model label or id ('7B', 'meta-llama/Llama-2-13b-hf'), else None."""
    if "llama-2" not in label.lower() and label.upper() not in LLAMA2:
        return None
    m = _SIZE.search(label.split("/")[-1].replace("-", " "))
    return LLAMA2.get(f"{m.group(1)}B") if m else None


def arch_from_catalog(m: ModelArchitecture) -> Architecture:
    """The predictor's view of a catalog model (``catalog/models.yaml`` or a ``config.json``): MoE experts
    (routed, shared, leading dense layers), MLA's latent KV cache and absorbed attention, head widths."""
    d, layers = m.hidden_size, m.num_hidden_layers
    attn = m.attention_params()
    moe_layers = layers - m.first_k_dense if m.is_moe else 0
    expert = 3 * d * (m.moe_intermediate_size or m.intermediate_size) if m.is_moe else 0
    dense = layers * attn + (layers - moe_layers) * 3 * d * m.intermediate_size
    dense += moe_layers * (m.num_shared_experts * expert + d * m.num_experts)  # shared experts, router
    h = m.num_attention_heads
    if m.uses_mla:  # decode multiplies in the latent space (absorbed); prefill expands the heads
        lat, rope = m.kv_lora_rank or 0, m.qk_rope_head_dim or 0
        kv, dec = lat + rope, 2 * h * (2 * lat + rope)
        pre = 2 * h * ((m.qk_nope_head_dim or 0) + rope + (m.v_head_dim or m.head_dim))
    else:
        kv, dec = 2 * m.num_key_value_heads * m.head_dim, 4 * h * m.head_dim
        pre = dec
    return Architecture(name=m.name, layers=layers, hidden=d, heads=h, kv_heads=m.num_key_value_heads,
                        ffn=m.intermediate_size, vocab=m.vocab_size, context=m.max_position_embeddings or 0,
                        tied_embeddings=m.tie_word_embeddings, source=m.source, head_size=m.head_dim,
                        dense_matrix_params=dense, experts=m.num_experts, experts_per_tok=m.num_experts_per_tok,
                        moe_layers=moe_layers, expert_params=expert, kv_elems_per_layer=kv, kv_replicated=m.uses_mla,
                        attention_params=layers * attn,
                        attn_flops_decode=dec, attn_flops_prefill=pre)


def catalog_arch(ref: str) -> Architecture | None:
    """A model label or Hugging Face id in the catalog's model table, else None."""
    try:
        return arch_from_catalog(architecture(ref))
    except ConfigError:
        return None
