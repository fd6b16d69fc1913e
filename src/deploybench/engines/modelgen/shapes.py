"""Llama-architecture shapes for a target parameter count (pure arithmetic, no I/O).

Conventions (documented because every size label in a study depends on them):

* ``params`` counts every weight in the file: token embedding, all blocks, final norm.
* The output projection is **tied** to the token embedding (no ``output.weight`` tensor; llama.cpp
  then uses ``token_embd.weight`` for the logits, as SmolLM2 does), so the embedding is counted once.
* Vocabulary 49152 (SmolLM2's tokenizer), head dim 64, grouped-query attention with up to 4 query
  heads per KV head, SwiGLU feed-forward.
* The width is chosen so the depth is "Llama-like" for that width (about ``n_embd / 24`` layers, 4 to
  32), then ``n_layer`` and ``n_ff`` are fitted to the target; results land within ~2% for 5M-8B.
  Small targets are embedding-dominated: 49152 x 64 = 3.1M parameters is the floor.
* Widths >= 256 are multiples of 256 and so are their ``n_ff``, so k-quants (256-wide blocks)
  apply to every matrix; with a width of 64-192 (targets below ~20M) ``llama-quantize`` falls back
  to Q5_0/Q8_0 for K types, so ladders on such tiny models are not representative.
* With tied embeddings the embedding doubles as the output matrix, which ``llama-quantize`` keeps
  at Q6_K/Q8_0 in the *_K_M types: in small models that is a large share of the parameters.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ...schemas import ConfigError

VOCAB = 49152
HEAD_DIM = 64
MIN_PARAMS = 5_000_000
MAX_PARAMS = 8_000_000_000

_UNITS = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9}


@dataclass(frozen=True)
class LlamaShape:
    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    n_vocab: int = VOCAB
    head_dim: int = HEAD_DIM

    @property
    def kv_dim(self) -> int:
        return self.n_head_kv * self.head_dim

    @property
    def per_layer(self) -> int:
        d = self.n_embd
        attn = 2 * d * d + 2 * d * self.kv_dim  # q, output; k, v
        return attn + 3 * d * self.n_ff + 2 * d  # gate, up, down; 2 RMS norms

    @property
    def n_params(self) -> int:
        return self.n_vocab * self.n_embd + self.n_layer * self.per_layer + self.n_embd

    def tensors(self) -> list[tuple[str, tuple[int, ...]]]:
        """(name, numpy shape) of every tensor, in file order; numpy shape is (rows, row length)."""
        d, kv, ff = self.n_embd, self.kv_dim, self.n_ff
        out: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (self.n_vocab, d)),
                                                  ("output_norm.weight", (d,))]
        for i in range(self.n_layer):
            b = f"blk.{i}"
            out += [(f"{b}.attn_norm.weight", (d,)), (f"{b}.attn_q.weight", (d, d)),
                    (f"{b}.attn_k.weight", (kv, d)), (f"{b}.attn_v.weight", (kv, d)),
                    (f"{b}.attn_output.weight", (d, d)), (f"{b}.ffn_norm.weight", (d,)),
                    (f"{b}.ffn_gate.weight", (ff, d)), (f"{b}.ffn_up.weight", (ff, d)),
                    (f"{b}.ffn_down.weight", (d, ff))]
        return out


def parse_params(params: str | int) -> int:
    """``"50M"`` / ``"1.5B"`` / ``"500k"`` / ``50_000_000`` -> a parameter count (decimal units)."""
    if isinstance(params, bool):
        raise ConfigError(f"random-llama: bad size {params!r}", "give a size like 10M, 50M, 200M or 1.5B")
    if isinstance(params, int):
        n = params
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMbBgG]?)\s*", str(params))
        if not m:
            raise ConfigError(f"random-llama: bad size '{params}'", "give a size like 10M, 50M, 200M or 1.5B")
        n = int(round(float(m.group(1)) * _UNITS[m.group(2).upper()]))
    if not MIN_PARAMS <= n <= MAX_PARAMS:
        raise ConfigError(
            f"random-llama: size {size_label(n)} is outside {size_label(MIN_PARAMS)}..{size_label(MAX_PARAMS)}",
            f"the {VOCAB}-token embedding alone is {size_label(VOCAB * HEAD_DIM)} parameters; "
            f"pick a size between {size_label(MIN_PARAMS)} and {size_label(MAX_PARAMS)}")
    return n


def size_label(n: int) -> str:
    """50_000_000 -> ``"50M"``; 1_500_000_000 -> ``"1.5B"`` (shortest exact form, else 3 digits)."""
    for unit, div in (("B", 10**9), ("M", 10**6), ("K", 10**3)):
        if n >= div:
            v = n / div
            text = f"{v:.3f}".rstrip("0").rstrip(".")
            return f"{text}{unit}"
    return str(n)


def _n_head_kv(n_head: int) -> int:
    for group in (4, 3, 2):
        if n_head % group == 0:
            return n_head // group
    return n_head


def _round(x: float, mult: int) -> int:
    return max(mult, int(round(x / mult)) * mult)


def _widths() -> list[int]:
    return [64, 128, 192] + list(range(256, 8192 + 1, 256))


def _shape(d: int, n_layer: int, n_ff: int) -> LlamaShape:
    n_head = d // HEAD_DIM
    return LlamaShape(n_embd=d, n_layer=n_layer, n_head=n_head, n_head_kv=_n_head_kv(n_head), n_ff=n_ff)


def shape_for(params: str | int) -> LlamaShape:
    """The Llama shape whose parameter count is closest to ``params`` under the conventions above."""
    target = parse_params(params)
    best: tuple[float, LlamaShape] | None = None
    for d in _widths():
        mult = 256 if d >= 256 else 64
        base = _shape(d, 1, _round(8 * d / 3, mult))
        room = target - VOCAB * d - d
        if room < base.per_layer * 0.5:
            continue
        layers_real = room / base.per_layer
        preferred = min(32.0, max(4.0, d / 24))
        # depth far from the preferred depth is penalised; so is a miss of the target
        n_layer = max(1, round(layers_real))
        attn = base.per_layer - 3 * d * base.n_ff
        n_ff = _round((room - n_layer * attn) / (3 * d * n_layer), mult)
        shape = _shape(d, n_layer, n_ff)
        miss = abs(shape.n_params - target) / target
        score = abs(math.log(layers_real / preferred)) + 20 * miss + (10 if n_ff < d else 0)
        if best is None or score < best[0]:
            best = (score, shape)
    assert best is not None  # MIN_PARAMS guarantees width 64 fits
    return best[1]
