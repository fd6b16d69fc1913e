"""Prompt text cut from the bundled public-domain corpus to an approximate token length."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np

TOKENS_PER_WORD = 1.3  # rough English average; the real count comes from the server's usage

__all__ = ["TOKENS_PER_WORD", "corpus_text", "corpus_words"]


@lru_cache(maxsize=1)
def _corpus() -> tuple[str, ...]:
    text = resources.files("deploybench").joinpath("data/corpus.txt").read_text(encoding="utf-8")
    return tuple(text.split())


def corpus_words() -> list[str]:
    return list(_corpus())


def corpus_text(words: list[str], rng: np.random.Generator, tokens: int, head: str = "") -> str:
    """About ``tokens`` tokens: ``head`` then consecutive corpus words from a random start (wrapping).

    A distinct ``head`` at the very start is what keeps two texts from sharing a cached prefix.
    """
    n = max(1, int(round(tokens / TOKENS_PER_WORD)) - len(head.split()))
    start = int(rng.integers(0, len(words)))
    reps = (start + n) // len(words) + 1
    body = " ".join((words * reps)[start:start + n])
    return f"{head} {body}" if head else body
