"""The typer application and the two consoles every command prints to."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

app = typer.Typer(add_completion=False, no_args_is_help=False, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Which LLM deployment should I pick? Measure, price, recommend.")
err = Console(stderr=True, soft_wrap=True)
out = Console(width=None if sys.stdout.isatty() else 200)
