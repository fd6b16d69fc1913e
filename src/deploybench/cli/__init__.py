"""Command line: ``deploybench run | summarize | ...``. Errors are one line, never a traceback.

The commands live in named modules (``measure``: run and summarize; ``analysis``, ``reporting``, ``quality``,
``predict``, ``doctor``, ``cloud``, ``ingest``: theirs); ``launch`` runs them. This package re-exports.
"""

from __future__ import annotations

from .app import app, err, out
from .launch import INTERRUPTED, entry, main
from .measure import run, summarize

__all__ = ["INTERRUPTED", "app", "entry", "err", "main", "out", "run", "summarize"]
