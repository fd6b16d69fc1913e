"""Convert a GGUF model to a Hugging Face directory (config, tokenizer, safetensors).

Run as a script with an interpreter that has ``torch``, ``transformers`` and ``gguf`` (vLLM's)::

    python _gguf2hf.py MODEL.gguf OUT_DIR [--dtype float32|bfloat16|float16]

Self-contained on purpose: it must not import deploybench, which that interpreter may not have.
Quantized tensors are dequantized (transformers uses ``gguf``'s dequantizers). Writes into a
temporary sibling folder and renames it, so a crash never leaves a half-written OUT_DIR.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

VERSION = 2  # bump when the output changes: cached folders of older versions are converted again


def _gguf_chat_template(path: Path) -> str | None:
    try:
        from gguf import GGUFReader  # noqa: PLC0415

        field = GGUFReader(str(path)).fields.get("tokenizer.chat_template")
        if field is None:
            return None
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except Exception:  # noqa: BLE001 (a template is a nice-to-have)
        return None


def _save_plain(model, out: Path) -> None:
    """Save as an ordinary (dequantized) checkpoint. transformers >= 5 marks GGUF-loaded models as
    quantized and refuses ``save_pretrained``; the tensors are plain dense ones, so drop the mark."""
    from safetensors.torch import save_file  # noqa: PLC0415

    out.mkdir(parents=True, exist_ok=True)
    config = model.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    config.architectures = [type(model).__name__]  # e.g. LlamaForCausalLM: vLLM picks the model class by it
    config.save_pretrained(out)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out)
    state = model.state_dict()
    if getattr(config, "tie_word_embeddings", False):  # HF convention: tied lm_head is not stored
        state.pop("lm_head.weight", None)
    tensors = {k: v.detach().contiguous().clone() for k, v in state.items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})


def convert(gguf_path: Path, out_dir: Path, dtype: str = "float32") -> Path:
    import torch  # noqa: PLC0415
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: PLC0415

    folder, name = str(gguf_path.parent), gguf_path.name
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    if not getattr(tokenizer, "chat_template", None):
        template = _gguf_chat_template(gguf_path)
        if template:
            tokenizer.chat_template = template
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=getattr(torch, dtype))
    except TypeError:  # transformers < 4.56 spells it torch_dtype
        model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, torch_dtype=getattr(torch, dtype))
    _save_plain(model, tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "deploybench-source.json").write_text(json.dumps({"gguf": str(gguf_path), "dtype": dtype, "converter": VERSION}))
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("gguf", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = ap.parse_args(argv)
    convert(args.gguf, args.out, args.dtype)
    print(f"converted {args.gguf} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
