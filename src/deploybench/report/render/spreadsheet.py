"""Spreadsheet primitives (CSV, XLSX)."""

from __future__ import annotations

from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(v: Any) -> Any:
    """Keep a spreadsheet from reading text (a deployment name, a prompt) as a formula."""
    if isinstance(v, str) and v.startswith(_FORMULA_START):
        return "'" + v
    return v
