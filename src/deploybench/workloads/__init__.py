"""Prompt sources: bundled synthetic text, a user's JSONL, the 2023 study's samples.json, chat-shaped
sets (multi-turn sessions, shared prefixes) and request traces."""

from __future__ import annotations

import json

import numpy as np

from ..protocols.base import Prompt
from ..schemas import (ConfigError, JsonlWorkload, MultiTurnWorkload, SamplesWorkload, SharedPrefixWorkload,
                       SyntheticWorkload)
from .chat import multi_turn, shared_prefix
from .text import TOKENS_PER_WORD, corpus_text, corpus_words
from .trace import TraceRow, jsonl_values, read_trace, trace_prompts

__all__ = ["Prompt", "load_prompts", "synthetic", "jsonl", "samples", "lengths", "multi_turn", "shared_prefix",
           "TraceRow", "read_trace", "trace_prompts", "corpus_words", "corpus_text", "TOKENS_PER_WORD"]


def load_prompts(source) -> list[Prompt]:
    if isinstance(source, SyntheticWorkload):
        return synthetic(source)
    if isinstance(source, JsonlWorkload):
        return jsonl(source)
    if isinstance(source, SamplesWorkload):
        return samples(source)
    if isinstance(source, MultiTurnWorkload):
        return multi_turn(source)
    if isinstance(source, SharedPrefixWorkload):
        return shared_prefix(source)
    raise ConfigError(f"workload.source.kind: unknown {getattr(source, 'kind', source)!r}",
                      "use synthetic, jsonl, samples, multi-turn or shared-prefix")


def lengths(cfg: SyntheticWorkload) -> np.ndarray:
    """Target input lengths (tokens) drawn from the configured distribution, clipped to [min, max]."""
    rng = np.random.default_rng(cfg.seed)
    n, mean, sd = cfg.prompts, cfg.input_tokens, cfg.input_tokens_stdev
    if cfg.distribution == "fixed" or sd == 0:
        raw = np.full(n, float(mean))
    elif cfg.distribution == "uniform":
        half = sd * np.sqrt(3.0)
        raw = rng.uniform(mean - half, mean + half, n)
    elif cfg.distribution == "normal":
        raw = rng.normal(mean, sd, n)
    else:  # lognormal with the requested mean and stdev
        sigma2 = np.log1p((sd / mean) ** 2)
        raw = rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), n)
    return np.clip(np.rint(raw), cfg.input_tokens_min, cfg.input_tokens_max).astype(int)


def synthetic(cfg: SyntheticWorkload) -> list[Prompt]:
    words = corpus_words()
    rng = np.random.default_rng(cfg.seed + 1)
    prompts = []
    for i, target in enumerate(lengths(cfg)):
        n_words = max(1, int(round(target / TOKENS_PER_WORD)))
        start = int(rng.integers(0, len(words)))
        picked = [words[(start + k) % len(words)] for k in range(max(1, n_words - 2))]
        # a unique head: no two prompts share a prefix, so server prompt caches cannot flatter TTFT
        prompts.append(Prompt(id=f"syn-{i}", text=f"#{i}: " + " ".join(picked), approx_tokens=int(target)))
    return prompts


def jsonl(cfg: JsonlWorkload) -> list[Prompt]:
    if not cfg.path.is_file():
        raise ConfigError(f"workload.source.path: file not found: {cfg.path}", "give a JSONL file of prompts")
    prompts = []
    with open(cfg.path, encoding="utf-8") as f:
        for where, obj in jsonl_values(f, cfg.path):
            prompts.append(_jsonl_prompt(obj, cfg.field, where, len(prompts)))
    if not prompts:
        raise ConfigError(f"{cfg.path}: no prompts", f"add lines like {{\"{cfg.field}\": \"...\"}}")
    return prompts


def _jsonl_prompt(obj, field: str, where: str, i: int) -> Prompt:
    if isinstance(obj, str):
        return Prompt(id=f"jsonl-{i}", text=obj)
    if not isinstance(obj, dict):
        raise ConfigError(f"{where}: expected an object", f"write {{\"{field}\": \"...\"}}")
    pid, out = str(obj.get("id", f"jsonl-{i}")), _line_max_tokens(obj, where)
    if "messages" in obj and isinstance(obj["messages"], list):
        text = " ".join(str(m.get("content", "")) for m in obj["messages"] if isinstance(m, dict))
        return Prompt(id=pid, text=text, messages=obj["messages"], max_tokens=out)
    if field not in obj:
        raise ConfigError(f"{where}: no '{field}' field", f"add \"{field}\" or set workload.source.field")
    return Prompt(id=pid, text=str(obj[field]), max_tokens=out)


def _line_max_tokens(obj: dict, where: str) -> int | None:
    """A line's own output length (optional ``max_tokens``); None: the workload's max_tokens."""
    out = obj.get("max_tokens")
    if out is None:
        return None
    if isinstance(out, bool) or not isinstance(out, int) or out < 1:
        raise ConfigError(f"{where}: max_tokens: {out!r} is not a whole number >= 1",
                          "give e.g. \"max_tokens\": 64, or leave it out to use workload.max_tokens")
    return out


def samples(cfg: SamplesWorkload) -> list[Prompt]:
    """The 2023 study's prompt set, in order (iteration i used prompt i)."""
    if not cfg.path.is_file():
        raise ConfigError(f"workload.source.path: file not found: {cfg.path}",
                          "point it at shared/seed-data/samples.json")
    try:
        data = json.loads(cfg.path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{cfg.path}: not valid JSON ({exc.msg})", "give the study's samples.json") from None
    prompts = []
    for i, entry in enumerate(data):
        if not (isinstance(entry, list) and entry and isinstance(entry[0], str)):
            raise ConfigError(f"{cfg.path}: entry {i} is not [prompt, tokens, ...]", "give the study's samples.json")
        n = int(entry[1]) if len(entry) > 1 and isinstance(entry[1], (int, float)) else 0
        if cfg.max_input_tokens and n > cfg.max_input_tokens:
            continue
        out = _answer_tokens(entry, f"{cfg.path}: entry {i}") if cfg.output_lengths else None
        prompts.append(Prompt(id=f"sample-{i}", text=entry[0], approx_tokens=n, max_tokens=out))
    return prompts


def _answer_tokens(entry: list, where: str) -> int:
    """The entry's third value, the 2023 answer length, as this request's max_tokens."""
    out = entry[2] if len(entry) > 2 else None
    if isinstance(out, bool) or not isinstance(out, (int, float)) or out < 1 or out != int(out):
        raise ConfigError(f"{where}: answer_tokens (3rd value) is {out!r}, not a whole number >= 1",
                          "give [prompt, prompt_tokens, answer_tokens] or set workload.source.output_lengths: false")
    return int(out)
