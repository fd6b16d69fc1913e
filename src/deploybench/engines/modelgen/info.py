"""``describe(path)``: what a GGUF model is, from its header (for study metadata)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from . import gguf
from .quant import file_type_name
from .generate import GEN_KEY


def _type_name(ggml_type: int) -> str:
    try:
        import gguf  # noqa: PLC0415

        return gguf.GGMLQuantizationType(ggml_type).name
    except (ImportError, ValueError):
        return str(ggml_type)


def describe(path: Path) -> dict[str, Any]:
    """Parameters, quantization, shape and size of a GGUF model, read from its header.

    Keys: path, arch, name, params (all tensor elements; tied embeddings counted once),
    file_type ("Q4_K_M", "F16", ...: the file's declared type), tensor_types (parameters per
    ggml type: k-quant files mix types), n_layer, n_embd, n_head, n_head_kv, n_ff, n_vocab,
    context_length, size_bytes, bits_per_weight, chat_template (bool), generator (dict; only for
    generated models).
    """
    path = Path(path)
    hdr = gguf.model_header(path, "describe")
    arch = hdr.get("general.architecture", "")
    params = sum(t.n_elements for t in hdr.tensors)
    by_type: Counter[str] = Counter()
    for t in hdr.tensors:
        by_type[_type_name(t.ggml_type)] += t.n_elements
    tokens = hdr.kv.get("tokenizer.ggml.tokens")
    ff = hdr.get(f"{arch}.feed_forward_length")
    size = path.stat().st_size
    file_type = file_type_name(hdr.get("general.file_type"))
    if file_type is None and by_type:
        file_type = by_type.most_common(1)[0][0]
    out: dict[str, Any] = {
        "path": str(path),
        "arch": arch,
        "name": hdr.get("general.name"),
        "params": params,
        "file_type": file_type,
        "tensor_types": dict(by_type.most_common()),
        "n_layer": hdr.get(f"{arch}.block_count"),
        "n_embd": hdr.get(f"{arch}.embedding_length"),
        "n_head": hdr.get(f"{arch}.attention.head_count"),
        "n_head_kv": hdr.get(f"{arch}.attention.head_count_kv"),
        "n_ff": ff[0] if isinstance(ff, list) else ff,
        "n_vocab": hdr.get(f"{arch}.vocab_size") or (tokens.count if tokens else None),
        "context_length": hdr.get(f"{arch}.context_length"),
        "size_bytes": size,
        "bits_per_weight": round(8 * size / params, 3) if params else None,
        "chat_template": "tokenizer.chat_template" in hdr.kv,
    }
    gen = {k.removeprefix(GEN_KEY + "."): v.value for k, v in hdr.kv.items() if k.startswith(GEN_KEY + ".")}
    if gen:
        out["generator"] = gen
    return out
