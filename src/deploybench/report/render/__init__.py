"""The report's primitives, the bottom of ``report``: columns, HTML and Markdown helpers. Sections
(tables, quality, pruned, interactivity, slo) sit above them, the renderers (html, markdown, spreadsheet) on top."""

from .columns import Column, fmt_value
from .html import h, html_table, safe_json
from .markdown import DEFINITIONS, md_table, md_text
from .spreadsheet import safe_text

__all__ = ["DEFINITIONS", "Column", "fmt_value", "h", "html_table", "md_table", "md_text", "safe_json", "safe_text"]
