"""HTML primitives: escaping, JSON that cannot close its <script>, a table from columns."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from .columns import Column


def h(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def safe_json(obj: Any) -> str:
    """JSON that cannot close the <script> element it sits in (NaN/inf become null)."""
    text = obj if isinstance(obj, str) else json.dumps(_finite(obj), allow_nan=False, default=str)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def html_table(columns: Sequence[Column], rows: Sequence, table_id: str | None = None,
               row_attrs: Callable[[Any], str] | None = None) -> str:
    head = "".join(f'<th class="{"num" if c.fmt else "text"}">{h(c.title)}</th>' for c in columns)
    body = []
    for r in rows:
        cells = "".join(f'<td class="{"num" if c.fmt else "text"}">{h(c.text(r))}</td>' for c in columns)
        body.append(f"<tr{row_attrs(r) if row_attrs else ''}>{cells}</tr>")
    tid = f' id="{h(table_id)}"' if table_id else ""
    return (f'<div class="table-wrap"><table{tid}><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>")
