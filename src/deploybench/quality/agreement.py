"""Greedy-output agreement between two OpenAI-compatible deployments (any engine).

A weaker measure than KL divergence: it sees only each deployment's single most likely
continuation, not its distribution. Over a fixed prompt set (passages of the bundled held-out
text), each prompt is sent once to each deployment at concurrency 1 with temperature 0; outputs
are split into words and punctuation marks (an OpenAI-compatible server does not return token
ids) and compared:

* token match = mean over prompts of (length of the common leading run of tokens) /
  (the longer output's token count) — greedy decoding makes everything after the first
  difference incomparable, so only the common prefix counts;
* exact match = share of prompts whose outputs are identical.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from ..schemas import ConfigError, Endpoint, EndpointError
from .llamacpp import text_file

_TOKEN = re.compile(r"\w+|[^\w\s]")
PROTOCOLS = ("openai-completions", "openai-chat")


def prompt_set(n: int = 16, words: int = 48, text: str | Path | None = None) -> list[str]:
    """``n`` passages of about ``words`` words, evenly spaced through the text, each cut at a line end."""
    lines = text_file(text).read_text(encoding="utf-8").splitlines()
    starts = [i for i, ln in enumerate(lines) if ln.strip()]
    step = max(1, len(starts) // max(n, 1))
    out = []
    for i in range(n):
        chunk: list[str] = []
        for ln in lines[starts[(i * step) % len(starts)]:]:
            chunk.append(ln)
            if sum(len(x.split()) for x in chunk) >= words:
                break
        out.append("\n".join(chunk).strip() + "\n")
    return out


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def compare(reference: Sequence[str], candidate: Sequence[str]) -> dict[str, float]:
    """``token_match`` and ``exact_match`` of two lists of outputs (same prompts, same order)."""
    if len(reference) != len(candidate) or not reference:
        raise ValueError("agreement needs the same, non-empty prompt set on both sides")
    fractions, exact = [], 0
    for ref, cand in zip(reference, candidate):
        a, b = tokens(ref), tokens(cand)
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        fractions.append(1.0 if not a and not b else n / max(len(a), len(b)))
        exact += ref == cand
    return {"token_match": sum(fractions) / len(fractions), "exact_match": exact / len(reference)}


def _body(prompt: str, model: str, protocol: str, max_tokens: int) -> dict:
    body = {"max_tokens": max_tokens, "temperature": 0.0, "top_p": 1.0, "seed": 0, "stream": False}
    if model:
        body["model"] = model
    if protocol == "openai-chat":
        body["messages"] = [{"role": "user", "content": prompt}]
    else:
        body["prompt"] = prompt
    return body


def _text(reply: dict, protocol: str) -> str:
    choice = (reply.get("choices") or [{}])[0]
    if protocol == "openai-chat":
        return (choice.get("message") or {}).get("content") or ""
    return choice.get("text") or ""


def greedy_outputs(ep: Endpoint, prompts: Sequence[str], max_tokens: int = 32, protocol: str | None = None,
                   timeout_s: float = 120.0) -> list[str]:
    """Each prompt's temperature-0 output, one request at a time (concurrency 1)."""
    protocol = protocol or ep.protocol
    if protocol not in PROTOCOLS:
        raise ConfigError(f"quality.protocol: agreement cannot use '{protocol}'", f"use one of: {', '.join(PROTOCOLS)}")
    path = "/v1/chat/completions" if protocol == "openai-chat" else "/v1/completions"
    url = ep.url.rstrip("/") + path
    outs = []
    for p in prompts:
        data = json.dumps(_body(p, ep.model, protocol, max_tokens)).encode()
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **ep.headers})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                outs.append(_text(json.loads(resp.read()), protocol))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise EndpointError(f"agreement: {url} failed: {str(exc)[:160]}",
                                "check the deployment is up and speaks the OpenAI API") from None
    return outs
