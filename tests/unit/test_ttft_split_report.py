"""Reports show where time to first token goes (#10 item 1): console, Markdown, HTML and CSV print the
p50 of each part of the TTFT split from the stored records; cells without the stamps show no split."""

from __future__ import annotations

import csv
import io

from rich.console import Console

from deploybench import metrics, storage
from deploybench.cli.tables import ttft_split_table
from deploybench.report import build_report
from deploybench.schemas import RequestRecord, RunMeta

MS = 1_000_000
# due, began, connected, sent, head read, first token (ms): schedule 1, connect 3 (new) or 0.5 (pooled),
# write 0.25, headers 2, first token 40
NEW = (0.0, 1.0, 4.0, 4.25, 6.25, 46.25)
POOLED = (0.0, 1.0, 1.5, 1.75, 3.75, 43.75)
SLOW = (0.0, 1.0, 3.5, 3.75, 5.75, 85.75)  # pooled, 2.5 ms to take, first token 80 ms: moves means, not p50s


def _rec(i: int, marks, reused: bool, split: bool = True) -> RequestRecord:
    t0 = 1_000 * MS + i * 100 * MS
    due, began, conn, sent, head, first = (t0 + int(m * MS) for m in marks)
    return RequestRecord(index=i, scheduled_ns=due, sent_ns=sent, chunk_ns=[first, first + MS], chunk_tokens=[1, 1],
                         done_ns=first + 2 * MS, output_tokens=2, token_source="usage",
                         **({"started_ns": began, "connected_ns": conn, "headers_ns": head, "reused": reused}
                            if split else {}))


def _write(root, name: str, recs) -> None:
    meta = RunMeta(run_id=name, study="s", deployment=name, concurrency=1, status="running")
    w = storage.RunWriter(root / name, meta)
    for r in recs:
        w.append(r)
    w.close("complete")
    storage.write_summary(root / name, metrics.summarize(recs, meta))


def test_reports_show_the_ttft_split(tmp_path):
    _write(tmp_path, "split", [_rec(0, NEW, False)] + [_rec(i, POOLED, True) for i in range(1, 4)]
           + [_rec(4, SLOW, True)])
    _write(tmp_path, "old", [_rec(i, NEW, False, split=False) for i in range(3)])
    s = storage.read_summary(tmp_path / "split")
    assert s.connections == {"new": 1, "pooled": 4}
    assert s.ttft_split_ms["connect_new"].p50 == 3.0 and s.ttft_split_ms["connect_pooled"].p50 == 0.5
    assert s.ttft_split_ms["first_token"].p50 == 40.0 and s.ttft_split_ms["headers"].p50 == 2.0
    assert s.ttft_split_ms["first_token"].mean == 48.0 and s.ttft_split_ms["connect_pooled"].mean == 1.0

    console = Console(file=io.StringIO(), width=250)
    console.print(ttft_split_table([s, storage.read_summary(tmp_path / "old")]))
    text = console.file.getvalue()
    assert "40.00" in text and "0.50" in text and "3.00" in text and "1/4" in text
    assert "old" not in text  # no stamps: no split row

    build_report(tmp_path, "md,html,csv")
    md = (tmp_path / "report" / "report.md").read_text()
    section = md.split("## Where time to first token goes", 1)[1].split("## All cells")[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| split")]
    assert len(rows) == 1 and "| 40.00 |" in rows[0] and "| 0.50 |" in rows[0] and "| 1 | 4 |" in rows[0]
    assert "| old" not in section
    html = (tmp_path / "report" / "report.html").read_text()
    assert 'id="ttft-split"' in html and "40.00" in html.split('id="ttft-split"')[1].split("</section>")[0]
    cells = {r["run_id"]: r for r in csv.DictReader(open(tmp_path / "report" / "cells.csv", encoding="utf-8"))}
    assert float(cells["split"]["ttft_split_first_token_p50"]) == 40.0 and cells["old"]["ttft_split_first_token_p50"] == ""


def test_no_split_section_without_stamps(tmp_path):
    _write(tmp_path, "old", [_rec(i, NEW, False, split=False) for i in range(3)])
    assert ttft_split_table([storage.read_summary(tmp_path / "old")]) is None
    build_report(tmp_path, "md,html")
    assert "Where time to first token goes" not in (tmp_path / "report" / "report.md").read_text()
    assert 'id="ttft-split"' not in (tmp_path / "report" / "report.html").read_text()
