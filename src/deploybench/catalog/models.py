"""Architectures of well-known open models: a bundled table, and a Hugging Face ``config.json`` reader.

:func:`load_architectures` reads ``catalog/models.yaml`` (Llama 2/3.x, Mistral/Mixtral, Qwen2.5/3, Gemma,
DeepSeek-V3/R1): per model the fields a performance model needs, named as in ``config.json``, the published
total and active parameter counts, the default dtype, and where the figures come from.
:func:`architecture` looks one up by name, Hugging Face id or alias; given a ``config.json`` it returns the
same record with every field the file has taken from the file. :func:`from_hf_config` reads a
``config.json`` alone. :meth:`ModelArchitecture.param_counts` estimates total and per-token (active)
parameters from the shape (dense, grouped-query, MoE with shared experts and leading dense layers, and
DeepSeek's multi-head latent attention), so a config with no published counts still has them.
"""

from __future__ import annotations

import difflib
import functools
import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from ..schemas import ConfigError
from ..schemas.validation import from_validation

__all__ = ["ModelArchitecture", "architecture", "from_hf_config", "load_architectures"]

BUNDLED_MODELS = "models.yaml"

# config.json keys -> record fields, first match wins (Mixtral, Qwen-MoE and DeepSeek name experts differently)
_ALIASES: dict[str, tuple[str, ...]] = {
    "num_experts": ("num_local_experts", "num_experts", "n_routed_experts"),
    "num_shared_experts": ("n_shared_experts",),
    "first_k_dense": ("first_k_dense_replace",),
}


class ModelArchitecture(BaseModel):
    """A decoder-only transformer's shape, its published size and where the figures come from."""

    model_config = ConfigDict(extra="forbid")

    name: str
    hf_id: str | None = Field(None, description="Hugging Face repository id")
    family: str = ""
    aliases: list[str] = Field(default_factory=list)
    hidden_size: int = Field(ge=1)
    num_hidden_layers: int = Field(ge=1)
    num_attention_heads: int = Field(ge=1)
    num_key_value_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    intermediate_size: int = Field(ge=1, description="dense MLP width (gated: 3 matrices)")
    vocab_size: int = Field(ge=1)
    max_position_embeddings: int | None = Field(None, ge=1)
    tie_word_embeddings: bool = False
    # mixture of experts (num_experts 0 = dense)
    num_experts: int = Field(0, ge=0, description="routed experts per MoE layer")
    num_experts_per_tok: int = Field(0, ge=0)
    moe_intermediate_size: int | None = Field(None, ge=1)
    num_shared_experts: int = Field(0, ge=0)
    first_k_dense: int = Field(0, ge=0, description="leading layers with a dense MLP instead of experts")
    # multi-head latent attention (DeepSeek-V2/V3)
    q_lora_rank: int | None = Field(None, ge=1)
    kv_lora_rank: int | None = Field(None, ge=1)
    qk_nope_head_dim: int | None = Field(None, ge=1)
    qk_rope_head_dim: int | None = Field(None, ge=1)
    v_head_dim: int | None = Field(None, ge=1)
    torch_dtype: str | None = Field(None, description="default dtype of the published weights' compute")
    weight_dtype: str | None = Field(None, description="dtype the weights ship in, where narrower (e.g. fp8)")
    total_params_b: float | None = Field(None, gt=0, description="published total parameters, billions")
    active_params_b: float | None = Field(None, gt=0, description="published parameters per token (MoE), billions")
    source: str = ""
    recalled: bool = Field(False, description="written from memory of the config.json, not fetched")
    note: str = ""

    @model_validator(mode="after")
    def _check(self) -> ModelArchitecture:
        if self.num_key_value_heads > self.num_attention_heads or self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(f"num_key_value_heads {self.num_key_value_heads} must divide "
                             f"num_attention_heads {self.num_attention_heads}")
        if self.num_experts and not (0 < self.num_experts_per_tok <= self.num_experts):
            raise ValueError(f"num_experts_per_tok {self.num_experts_per_tok} must be 1..num_experts "
                             f"({self.num_experts})")
        if self.first_k_dense > self.num_hidden_layers:
            raise ValueError("first_k_dense exceeds num_hidden_layers")
        return self

    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0

    @property
    def uses_mla(self) -> bool:
        return self.kv_lora_rank is not None

    def kv_bytes_per_token(self, kv_bytes: float = 2.0) -> float:
        """KV-cache bytes one token occupies over all layers (MLA caches the latent and the RoPE key)."""
        if self.uses_mla:
            per_layer = (self.kv_lora_rank or 0) + (self.qk_rope_head_dim or 0)
        else:
            per_layer = 2 * self.num_key_value_heads * self.head_dim
        return self.num_hidden_layers * per_layer * kv_bytes

    def attention_params(self) -> int:
        """Weights of one layer's attention projections (MLA: its down/up projections)."""
        d, h = self.hidden_size, self.num_attention_heads
        if self.uses_mla:
            nope, rope = self.qk_nope_head_dim or 0, self.qk_rope_head_dim or 0
            v = self.v_head_dim or self.head_dim
            q = (d * self.q_lora_rank + self.q_lora_rank * h * (nope + rope)) if self.q_lora_rank else d * h * (nope + rope)
            kv = d * ((self.kv_lora_rank or 0) + rope) + (self.kv_lora_rank or 0) * h * (nope + v)
            return q + kv + h * v * d
        q_width, kv_width = h * self.head_dim, self.num_key_value_heads * self.head_dim
        return 2 * d * q_width + 2 * d * kv_width

    def param_counts(self) -> tuple[int, int]:
        """(total, active per token) parameters estimated from the shape, norms and biases left out."""
        d, layers = self.hidden_size, self.num_hidden_layers
        attn = self.attention_params()
        dense_mlp = 3 * d * self.intermediate_size
        emb = self.vocab_size * d * (1 if self.tie_word_embeddings else 2)
        if not self.is_moe:
            total = layers * (attn + dense_mlp) + emb
            return total, total
        expert = 3 * d * (self.moe_intermediate_size or self.intermediate_size)
        moe_layers = layers - self.first_k_dense
        per_moe_total = self.num_experts * expert + self.num_shared_experts * expert + d * self.num_experts
        per_moe_active = (self.num_experts_per_tok + self.num_shared_experts) * expert + d * self.num_experts
        base = layers * attn + self.first_k_dense * dense_mlp + emb
        return base + moe_layers * per_moe_total, base + moe_layers * per_moe_active

    @property
    def total_params(self) -> float:
        """Total parameters: the published figure where there is one, else the estimate."""
        return self.total_params_b * 1e9 if self.total_params_b else float(self.param_counts()[0])

    @property
    def active_params(self) -> float:
        """Parameters a token passes through (= total for a dense model)."""
        if self.active_params_b:
            return self.active_params_b * 1e9
        return self.total_params if not self.is_moe else float(self.param_counts()[1])


def _fields_from_config(config: dict[str, Any], derive: bool = True) -> dict[str, Any]:
    """The record's fields that a Hugging Face ``config.json`` dict gives (text_config merged in).

    ``derive``: fill what the file leaves to defaults (KV heads = heads, head_dim = hidden / heads,
    Mixtral's expert width = intermediate_size); off when the file overrides a bundled entry.
    """
    cfg = dict(config)
    text = cfg.get("text_config")
    if isinstance(text, dict):  # multimodal wrappers (Gemma 3, Llama 4, ...): the decoder's own config
        cfg = {**{k: v for k, v in cfg.items() if k != "text_config"}, **text}
    out: dict[str, Any] = {}
    for field in ModelArchitecture.model_fields:
        keys = _ALIASES.get(field, (field,))
        for k in keys:
            if cfg.get(k) is not None:
                out[field] = cfg[k]
                break
    for k in ("source", "recalled", "name", "aliases", "note", "family", "hf_id", "total_params_b", "active_params_b"):
        out.pop(k, None)
    if not derive:
        return out
    if "num_key_value_heads" not in out and "num_attention_heads" in out:
        out["num_key_value_heads"] = out["num_attention_heads"]
    if "head_dim" not in out and "hidden_size" in out and "num_attention_heads" in out:
        out["head_dim"] = out["hidden_size"] // out["num_attention_heads"]
    if out.get("num_experts") and "moe_intermediate_size" not in out and "intermediate_size" in out:
        out["moe_intermediate_size"] = out["intermediate_size"]  # Mixtral: experts are full-width MLPs
    return out


def _read_config(config: dict[str, Any] | Path | str) -> tuple[dict[str, Any], str]:
    if isinstance(config, dict):
        return config, "config.json"
    path = Path(config)
    if path.is_dir():
        path = path / "config.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config.json", "give the path of a Hugging Face config.json") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: cannot be read as JSON ({exc})", "give a Hugging Face config.json") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a JSON object", "give a Hugging Face config.json")
    return data, str(path)


def from_hf_config(config: dict[str, Any] | Path | str, name: str | None = None) -> ModelArchitecture:
    """A :class:`ModelArchitecture` from a Hugging Face ``config.json`` (a dict, its path, or its folder).

    Reads the standard keys (``hidden_size``, ``num_hidden_layers``, ``num_attention_heads``,
    ``num_key_value_heads``, ``head_dim``, ``intermediate_size``, ``vocab_size``, ``tie_word_embeddings``,
    ``torch_dtype``), the MoE keys of Mixtral (``num_local_experts``), Qwen (``num_experts``) and DeepSeek
    (``n_routed_experts``, ``n_shared_experts``, ``first_k_dense_replace``, ``moe_intermediate_size``), and
    MLA's ranks. A nested ``text_config`` (multimodal models) is the decoder's. Parameter counts are
    estimated (:meth:`ModelArchitecture.param_counts`); ConfigError names a missing key.
    """
    data, label = _read_config(config)
    fields = _fields_from_config(data)
    need = ("hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size")
    missing = [k for k in need if k not in fields]
    if missing:
        raise ConfigError(f"{label}: missing field '{missing[0]}'", "give a decoder-only model's config.json")
    nm = name or str(data.get("_name_or_path") or data.get("model_type") or "model")
    try:
        return ModelArchitecture(name=nm, source=f"{label} (Hugging Face config)", **fields)
    except ValidationError as exc:
        raise from_validation(exc, label, "fix that field of the config.json") from None


@functools.lru_cache(maxsize=4)
def _bundled(path: str | None) -> tuple[ModelArchitecture, ...]:
    if path is None:
        text, label = (resources.files(__package__) / BUNDLED_MODELS).read_text(encoding="utf-8"), BUNDLED_MODELS
    else:
        try:
            text, label = Path(path).read_text(encoding="utf-8"), path
        except OSError as exc:
            raise ConfigError(f"models file {path} cannot be read ({exc.strerror})", "check the path") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raise ConfigError(f"models file {label} is not valid YAML", "fix the YAML syntax") from None
    items = data.get("models") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise ConfigError(f"models file {label} must be a mapping with a 'models:' list", "see catalog/models.yaml")
    out = []
    for i, raw in enumerate(items):
        raw = dict(raw)
        raw.setdefault("source", f"https://huggingface.co/{raw['hf_id']}/blob/main/config.json"
                       if raw.get("hf_id") else "")
        try:
            out.append(ModelArchitecture.model_validate(raw))
        except ValidationError as exc:
            raise from_validation(exc, f"models file {label}", "fix that field", root=f"models[{i}]") from None
    return tuple(out)


def load_architectures(path: Path | str | None = None) -> dict[str, ModelArchitecture]:
    """The bundled architectures by name (``catalog/models.yaml``), plus those of ``path`` (same shape),
    which replace bundled entries of the same name."""
    out = {a.name: a.model_copy(deep=True) for a in _bundled(None)}
    if path is not None:
        out.update({a.name: a.model_copy(deep=True) for a in _bundled(str(path))})
    return out


def _lookup(name: str, table: dict[str, ModelArchitecture]) -> ModelArchitecture | None:
    low = name.strip().lower()
    for a in table.values():
        keys = [a.name, a.hf_id or "", *a.aliases]
        if low in {k.lower() for k in keys if k} or low in {k.lower().rsplit("/", 1)[-1] for k in keys if k}:
            return a
    return None


def architecture(name: str, config_json: dict[str, Any] | Path | str | None = None,
                 table: dict[str, ModelArchitecture] | None = None) -> ModelArchitecture:
    """The architecture called ``name`` (name, Hugging Face id or alias; case-insensitive).

    With ``config_json`` (a ``config.json`` path, its folder, or the parsed dict), every field the file
    gives replaces the bundled one; published parameter counts are dropped when the shape changed, so
    they are re-estimated from the file. A name not in the table then comes from the file alone.
    """
    table = table if table is not None else load_architectures()
    base = _lookup(name, table)
    if config_json is None:
        if base is None:
            close = difflib.get_close_matches(name, list(table), n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
            raise ConfigError(f"unknown model architecture '{name}'",
                              f"{hint}use one of: {', '.join(sorted(table))}, or give its config.json")
        return base
    if base is None:
        return from_hf_config(config_json, name=name)
    data, label = _read_config(config_json)
    fields = _fields_from_config(data, derive=False)
    shape = {k: v for k, v in base.model_dump().items() if k in fields}
    changed = any(shape.get(k) != v for k, v in fields.items() if k not in ("torch_dtype", "max_position_embeddings"))
    update: dict[str, Any] = {**fields, "source": f"{label} (Hugging Face config), over the bundled entry",
                              "recalled": False}
    if changed:
        update.update(total_params_b=None, active_params_b=None)
    try:
        return ModelArchitecture.model_validate({**base.model_dump(), **update})
    except ValidationError as exc:
        raise from_validation(exc, label, "fix that field of the config.json") from None
