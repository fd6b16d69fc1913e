"""Chat-shaped workloads: multi-turn sessions and shared-prefix (system prompt) sets.

Text comes from the bundled corpus (:func:`corpus_text`), lengths are approximate tokens as in the
synthetic workload; the server's usage gives the real counts.
"""

from __future__ import annotations

import numpy as np

from ..protocols.base import Prompt
from ..schemas import MultiTurnWorkload, SharedPrefixWorkload
from .text import corpus_text, corpus_words

__all__ = ["multi_turn", "shared_prefix", "as_text"]


def as_text(messages: list[dict]) -> str:
    """A conversation as one plain prompt (what a completions endpoint is sent)."""
    return "\n\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in messages)


def multi_turn(cfg: MultiTurnWorkload) -> list[Prompt]:
    """Sessions in order, each turn by turn; turn t re-sends the t earlier exchanges and a new user turn.

    The assistant turns in the history are synthetic corpus text of ``answer_tokens`` tokens, not
    the answers the server gave (those are never fed back), so every run sends the same prompts.
    Each session's first user turn starts with its own head (``#<session>.0:``): sessions share no
    prefix, while each turn extends the previous turn's prompt, as a real chat does.
    """
    words = corpus_words()
    rng = np.random.default_rng(cfg.seed)
    prompts: list[Prompt] = []
    for s in range(cfg.sessions):
        history: list[dict] = []
        for t in range(cfg.turns):
            user = {"role": "user", "content": corpus_text(words, rng, cfg.user_tokens, head=f"#{s}.{t}:")}
            messages = [*history, user]
            prompts.append(Prompt(
                id=f"mt-s{s}-t{t}", text=as_text(messages), messages=messages,
                approx_tokens=t * (cfg.user_tokens + cfg.answer_tokens) + cfg.user_tokens,
                session=s, turn=t, think_s=cfg.think_s if t else 0.0))
            answer = {"role": "assistant", "content": corpus_text(words, rng, cfg.answer_tokens)}
            history = [*messages, answer]
    return prompts


def shared_prefix(cfg: SharedPrefixWorkload) -> list[Prompt]:
    """K system prompts x M users, round-robin over the prefixes (p0-u0, p1-u0, ..., p0-u1, ...).

    Requests sharing a prefix are spread out as real traffic spreads them, not sent back to back.
    Each prompt is ``[system: prefix, user: question]``; ids are ``sp-p<k>-u<u>``. With
    ``unique_prefixes`` every prompt gets a prefix of its own of the same length (id
    ``sp-p<k>.<u>-u<u>``) and the same questions: the baseline that shows what the cache is worth.
    """
    words = corpus_words()
    prefix_rng = np.random.default_rng([cfg.seed, 1])
    question_rng = np.random.default_rng([cfg.seed, 2])  # the same questions in both modes
    shared = [corpus_text(words, prefix_rng, cfg.prefix_tokens, head=f"System prompt {k}:")
              for k in range(cfg.prefixes)]
    prompts: list[Prompt] = []
    for u in range(cfg.users_per_prefix):
        for k in range(cfg.prefixes):
            if cfg.unique_prefixes:
                pid = f"p{k}.{u}"
                prefix = corpus_text(words, prefix_rng, cfg.prefix_tokens, head=f"System prompt {k}.{u}:")
            else:
                pid, prefix = f"p{k}", shared[k]
            question = corpus_text(words, question_rng, cfg.suffix_tokens, head=f"Question {k}.{u}:")
            messages = [{"role": "system", "content": prefix}, {"role": "user", "content": question}]
            prompts.append(Prompt(id=f"sp-{pid}-u{u}", text=f"{prefix}\n\n{question}", messages=messages,
                                  approx_tokens=cfg.prefix_tokens + cfg.suffix_tokens))
    return prompts
