"""Effective bits per weight of a GGUF file, from its tensor table (no tensor data read).

llama-quantize does not store every tensor in the requested type: tensors whose row length is not
a multiple of the K-quant block (256) fall back to another type, and the mixes (``_M``, ``_S``)
keep some tensors wider on purpose. So the name says little on a small model; this counts.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..engines.modelgen import gguf
from ..engines.modelgen.quant import file_type_name

#: ggml type id -> (name, weights per block, bytes per block); ggml's own table (gguf-py constants)
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4), 1: ("F16", 1, 2), 2: ("Q4_0", 32, 18), 3: ("Q4_1", 32, 20), 6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24), 8: ("Q8_0", 32, 34), 9: ("Q8_1", 32, 36), 10: ("Q2_K", 256, 84), 11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144), 13: ("Q5_K", 256, 176), 14: ("Q6_K", 256, 210), 15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66), 17: ("IQ2_XS", 256, 74), 18: ("IQ3_XXS", 256, 98), 19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18), 21: ("IQ3_S", 256, 110), 22: ("IQ2_S", 256, 82), 23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1), 25: ("I16", 1, 2), 26: ("I32", 1, 4), 27: ("I64", 1, 8), 28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56), 30: ("BF16", 1, 2), 34: ("TQ1_0", 256, 54), 35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
}


def nominal_type(file_type: str | None) -> str | None:
    """The ggml tensor type a file type is named after: Q4_K_M -> Q4_K, Q8_0 -> Q8_0."""
    if not file_type:
        return None
    for suffix in ("_M", "_S", "_L", "_XL"):
        if file_type.endswith(suffix) and "_K" in file_type:
            return file_type[: -len(suffix)]
    return file_type


def weights_info(path: Path | str) -> dict[str, Any]:
    """``bits_per_weight`` (tensor data bits / weights), ``tensor_types`` (weights per ggml type),
    ``file_type`` (the name in the header) and ``nominal_type_share`` (weights in that type)."""
    hdr = gguf.model_header(Path(path), "quality")
    by_type: Counter[str] = Counter()
    bits = 0.0
    for t in hdr.tensors:
        name, block, size = GGML_TYPES.get(t.ggml_type, (str(t.ggml_type), 1, 0))
        by_type[name] += t.n_elements
        bits += 8.0 * size * t.n_elements / block
    total = sum(by_type.values())
    ftype = file_type_name(hdr.get("general.file_type"))
    nominal = nominal_type(ftype)
    unknown = any(t.ggml_type not in GGML_TYPES for t in hdr.tensors)
    return {
        "file_type": ftype,
        "tensor_types": dict(by_type.most_common()),
        "bits_per_weight": None if unknown or not total else round(bits / total, 3),
        "nominal_type_share": round(by_type.get(nominal, 0) / total, 4) if total and nominal else None,
    }
