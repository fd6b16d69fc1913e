"""A table column: reads one value from a row object and prints it; the same number means the same in every
format (Markdown, CSV, XLSX, HTML, JSON)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    get: Callable[[Any], Any]
    fmt: str | None = None  # format for display; None = str()

    def text(self, row: Any) -> str:
        return fmt_value(self.get(row), self.fmt)


def fmt_value(v: Any, fmt: str | None = None) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if fmt and isinstance(v, (int, float)):
        return fmt.format(v)
    return str(v)
