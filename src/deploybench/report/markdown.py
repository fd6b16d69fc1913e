"""The Markdown report: recommendations (2023-study columns, each under its rule), then every cell."""

from __future__ import annotations

from collections.abc import Sequence

from .context import ReportContext
from .picks import Recommendation
from .pruned import markdown_lines as pruned_lines
from .quality import markdown_lines as quality_lines
from .render.markdown import DEFINITIONS, md_table, md_text
from .tables import CELL_COLUMNS, STUDY_COLUMNS, TTFT_SPLIT_COLUMNS, TTFT_SPLIT_NOTE, split_cells

def recommendation_section(rec: Recommendation) -> list[str]:
    lines = [f"### {rec.title}", ""]
    for rule in rec.rules or ["(no rule reported)"]:
        lines.append(f"**Rule:** {md_text(rule)}")
    lines.append("")
    if rec.rows:
        lines += md_table(STUDY_COLUMNS, rec.rows)
        lines.append("")
        for r in rec.rows:
            if r.margin_text:
                lines.append(f"- {md_text(r.group)}: {md_text(r.margin_text)}")
    for note in rec.notes:
        lines.append(f"- {md_text(note)}")
    lines.append("")
    return lines


def render(ctx: ReportContext) -> str:
    store = ctx.store
    lines = [f"# deploybench report — {md_text(store.root)}", ""]
    lines += [f"- {md_text(x)}" for x in ctx.facts()]
    lines += ["", "## Recommendations", ""]
    for rec in ctx.recommendations:
        lines += recommendation_section(rec)
    if ctx.pareto:
        lines += ["## Cost / latency Pareto front", "",
                  "Per model, the cells no other cell of that model beats on both $ per 1M tokens and "
                  "median ms/token (any concurrency), cheapest first:", ""]
        for p in ctx.pareto:
            lines.append(f"- {md_text(p.group)}: {md_text(p.cell.deployment)} @ c={p.cell.concurrency} — "
                         f"${p.cost:.3f} per 1M tokens, {p.latency:.2f} ms/token")
        lines.append("")

    lines += quality_lines(ctx)
    lines += pruned_lines(ctx)
    if split := split_cells(store.cells):
        lines += ["## Where time to first token goes", "", TTFT_SPLIT_NOTE, ""]
        lines += md_table(TTFT_SPLIT_COLUMNS, split) + [""]
    lines += ["## All cells", ""]
    lines += md_table(CELL_COLUMNS, store.cells)
    lines += ["", DEFINITIONS, ""]
    for note in ctx.notes:
        lines.append(f"> {md_text(note)}")
    return "\n".join(lines).rstrip() + "\n"
