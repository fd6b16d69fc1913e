"""Markdown primitives: escaped inline text, a table from columns, and the definitions line every format shows."""

from __future__ import annotations

import html
from collections.abc import Sequence

from .columns import Column


DEFINITIONS = (
    "Times in milliseconds. TTFT = first output token (of any kind) − sent; TPOT = (last token − first token) / "
    "(streamed tokens after the first event); E2E = done − sent; ms/token = client E2E / output tokens (queue, "
    "prefill and network included; imported 2023 cells have TGI's server-side time per token instead); "
    "throughput = output tokens completed in the measurement window / window; "
    "minutes to 1M tokens = 1e6 / throughput / 60; $ per 1M tokens = $/hour × minutes to 1M tokens / 60."
)


def md_text(value: str) -> str:
    """A table cell or inline text: HTML escaped (Markdown allows raw HTML), pipes and newlines neutralised."""
    return html.escape(str(value), quote=False).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def md_table(columns: Sequence[Column], rows: Sequence) -> list[str]:
    head = "| " + " | ".join(md_text(c.title) for c in columns) + " |"
    rule = "|" + "|".join("---:" if c.fmt else "---" for c in columns) + "|"
    body = ["| " + " | ".join(md_text(c.text(r)) for c in columns) + " |" for r in rows]
    return [head, rule, *body]
