"""A pruned study (``run --prune``): predicted vs measured for every measured cell, and the predicted
figures, marked PREDICTED, of the cells pruning skipped (read from ``prune.json``; never cells)."""

from __future__ import annotations

from ..predict.prune import PruneResult, read_result
from .render.columns import Column
from .render.html import h, html_table
from .render.markdown import md_table, md_text

__all__ = ["COLUMNS", "html_section", "markdown_lines", "result_of"]


def _pred(key: str):
    return lambda c: (c.predicted_before or c.predicted).get(key)


def _meas(key: str):
    return lambda c: (c.measured or {}).get(key)


COLUMNS: list[Column] = [
    Column("run_id", "cell", lambda c: c.run_id),
    Column("status", "status", lambda c: "skipped — PREDICTED, not measured" if c.status == "skipped" else c.status),
    Column("why", "why measured", lambda c: ", ".join(c.why) or "—"),
    Column("ms_per_token_pred", "ms/token predicted", _pred("ms_per_token"), "{:.2f}"),
    Column("ms_per_token_meas", "ms/token measured", _meas("ms_per_token"), "{:.2f}"),
    Column("tok_s_pred", "tok/s predicted", _pred("tok_s"), "{:.1f}"),
    Column("tok_s_meas", "tok/s measured", _meas("tok_s"), "{:.1f}"),
    Column("cost_pred", "$ per 1M tok predicted", _pred("cost_per_1m"), "{:.3f}"),
]

INTRO = ("Pruned grid (run --prune): every cell was predicted; only those within the margin of some pick's best "
         "were measured. For measured cells the prediction is the one made just before measuring; skipped cells "
         "show predictions only (they are not cells of this study and no pick or chart uses them).")


def result_of(ctx) -> PruneResult | None:
    return read_result(ctx.store.root)


def _saving(r: PruneResult) -> str:
    return (f"margin {r.margin:.0%}: measured {r.measured_cells} of {len(r.cells)} cells ({r.skipped_cells} skipped, "
            f"{r.engine_starts} engine starts); saved ~{r.saved_wall_s:.0f} s and ${r.saved_usd:.4f} by the plan's "
            f"estimate (full grid ~{r.full_wall_s:.0f} s); skipped cells' predicted duration "
            f"~{r.skipped_predicted_s or 0:.0f} s")


def markdown_lines(ctx) -> list[str]:

    r = result_of(ctx)
    if r is None:
        return []
    return ["## Pruned grid: predicted vs measured", "", md_text(INTRO), "", f"- {md_text(_saving(r))}", "",
            *md_table(COLUMNS, r.cells), ""]


def html_section(ctx) -> str:

    r = result_of(ctx)
    if r is None:
        return ""
    return (f'<section id="pruned"><h2>Pruned grid: predicted vs measured</h2><p class="muted">{h(INTRO)}</p>'
            f"<p>{h(_saving(r))}</p>{html_table(COLUMNS, r.cells)}</section>")
