"""deploybench.report: every format agrees with recommend() and with the stored data, and escapes names.

Stores are synthetic: RequestRecords with known latency distributions written through
deploybench.storage and summarized with deploybench.metrics, like a real run.
"""

from __future__ import annotations

import csv
import html
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from deploybench import metrics, storage
from deploybench.recommend import pareto, recommend
from deploybench.report import build_report, load_store, parse_formats
from deploybench.report.html import safe_json
from deploybench.schemas import ConfigError, RequestRecord, RunMeta

from ..conftest import seed_dir

MALICIOUS = "<script>alert(1)</script>"
MALICIOUS_MODEL = '"><img src=x onerror="window.__xss=1">'
FORMULA = '=HYPERLINK("http://example.invalid","x")'


@dataclass(frozen=True)
class Dep:
    name: str
    model: str
    hardware: str
    price: float | None
    ttft_ms: float  # median TTFT at concurrency 1
    tpot_ms: float  # median TPOT at concurrency 1
    quantization: str = "q4"
    engine: str = "llamacpp"


DEFAULT_DEPS = (
    Dep("small-cpu", "7B", "cpu-2", 0.10, 120.0, 20.0),
    Dep("big-gpu", "7B", "ml.g5.2xlarge", 1.515, 40.0, 8.0, quantization="none", engine="tgi"),
    Dep("big-model", "13B", "ml.g5.12xlarge", 7.09, 90.0, 15.0, quantization="none", engine="tgi"),
)


def make_records(n: int, concurrency: int, ttft_ms: float, tpot_ms: float, rng: np.random.Generator,
                 tokens: int = 20, errors: int = 0) -> list[RequestRecord]:
    """A closed loop: each virtual user sends its next request when the last one is done."""
    recs = []
    per_vu = max(1, n // concurrency)
    for vu in range(concurrency):
        t = 1_000_000_000
        for _ in range(per_vu):
            sent = t
            first = sent + int(rng.lognormal(np.log(ttft_ms), 0.25) * 1e6)
            gap = max(0.1, rng.normal(tpot_ms, tpot_ms * 0.1)) * 1e6
            chunks = [first + int(k * gap) for k in range(tokens)]
            done = chunks[-1] + 500_000
            recs.append(RequestRecord(index=0, vu=vu, scheduled_ns=sent, started_ns=sent, sent_ns=sent, chunk_ns=chunks,
                                      chunk_tokens=[1] * tokens, done_ns=done, input_tokens=64,
                                      output_tokens=tokens, token_source="usage", max_tokens=tokens,
                                      finish_reason="length"))
            t = done
    recs.sort(key=lambda r: r.sent_ns)
    for i, r in enumerate(recs):
        r.index = i
        if i < errors:
            r.error, r.chunk_ns, r.chunk_tokens, r.output_tokens = "HTTP 500", [], [], None
    return recs


def write_run(root: Path, dep: Dep, concurrency: int, records: list[RequestRecord], study: str = "synthetic",
              trial: int = 1) -> Path:
    run_id = storage.run_id_for(dep.name, concurrency, trial)  # a folder name, whatever the name
    meta = RunMeta(run_id=run_id, study=study, deployment=dep.name, concurrency=concurrency, status="running", trial=trial,
                   price_per_hour=dep.price, labels={"model": dep.model, "quantization": dep.quantization,
                                                     "hardware": dep.hardware, "engine": dep.engine})
    run_dir = root / run_id
    writer = storage.RunWriter(run_dir, meta)
    for r in records:
        writer.append(r)
    writer.close("complete")
    storage.write_summary(run_dir, metrics.summarize(records, meta))
    return run_dir


def make_store(root: Path, deps=DEFAULT_DEPS, levels=(1, 5, 20), n: int = 40, seed: int = 0,
               slowdown: float = 0.25) -> Path:
    """Latency grows with concurrency by ``slowdown`` per extra concurrent request."""
    rng = np.random.default_rng(seed)
    for dep in deps:
        for c in levels:
            f = 1 + slowdown * (c - 1)
            write_run(root, dep, c, make_records(n, c, dep.ttft_ms * f, dep.tpot_ms * (1 + 0.05 * (c - 1)), rng))
    return root


def import_like(root: Path) -> Path:
    """Summary-only runs, as `import-seed` writes them (empty records.jsonl, figures in external)."""
    src = make_store(root / "_src", deps=DEFAULT_DEPS[:2], levels=(1, 5, 20), n=20)
    for d in storage.run_dirs(src):
        meta, summary = storage.read_meta(d), storage.read_summary(d)
        summary.intervals = {}  # aggregates only: no per-request data to bracket
        meta.external = {"study_throughput_tok_s": summary.output_throughput_tok_s * 1.1}
        out = root / "imported" / d.name
        storage.atomic_write(out / storage.META, meta.model_dump_json())
        storage.atomic_write(out / storage.SUMMARY, summary.model_dump_json())
        storage.atomic_write(out / storage.RECORDS, "")
    return root / "imported"


# --------------------------------------------------------------------------- helpers reading the outputs


def md_sections(text: str) -> dict[str, str]:
    """Level-3 sections by title, each cut at the next heading."""
    parts = re.split(r"^### ", text, flags=re.M)
    return {p.splitlines()[0].strip(): re.split(r"^#", p, flags=re.M)[0] for p in parts[1:]}


def md_table_rows(section: str) -> list[dict[str, str]]:
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    if not lines:
        return []
    head = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(head, (c.strip() for c in ln.strip("|").split("|")))) for ln in lines[2:]]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return make_store(tmp_path_factory.mktemp("study"))


@pytest.fixture(scope="module")
def report_dir(store) -> Path:
    build_report(store)
    return store / "report"


# --------------------------------------------------------------------------- Markdown


def test_markdown_picks_are_recommends_picks(store, report_dir):
    text = (report_dir / "report.md").read_text()
    sections = md_sections(text)
    summaries = load_store(store).summaries
    by_id = {s.run_id: s for s in summaries}
    for title, scenario in (("Most cost-effective", "cost"), ("Lowest latency", "latency"),
                            ("Highest throughput", "throughput")):
        picks = recommend(summaries, scenario)
        sec = sections[title]
        rows = md_table_rows(sec)
        expected = [(p.group, by_id[p.run_id].deployment, str(p.concurrency)) for p in picks if p.run_id]
        assert [(r["Model"], r["Deployment"], r["Concurrent requests"]) for r in rows] == expected
        # the rule is printed before the table it produced
        for p in picks:
            assert sec.index(f"**Rule:** {p.rule}") < sec.index("| Model")


def test_markdown_columns_and_every_cell(store, report_dir):
    text = (report_dir / "report.md").read_text()
    for col in ("Model", "Quantization", "Instance / hardware", "Concurrent requests", "Median ms/token",
                "Tokens/s", "$/hour", "Minutes to generate 1M tokens", "$ to generate 1M tokens"):
        assert f"| {col} |" in text or f"| {col}" in text
    all_cells = text.split("## All cells", 1)[1]
    rows = md_table_rows(all_cells)
    assert sorted(r["run"] for r in rows) == sorted(d.name for d in storage.run_dirs(store))
    for col in ("TTFT p50", "TTFT p90", "TTFT p99", "TPOT p99", "E2E p99", "output tok/s", "goodput req/s", "errors"):
        assert col in rows[0]


def test_markdown_figures_match_summaries(store, report_dir):
    rows = md_table_rows((report_dir / "report.md").read_text().split("## All cells", 1)[1])
    for r in rows:
        s = storage.read_summary(store / r["run"])
        assert float(r["TTFT p90"]) == pytest.approx(s.ttft_ms.p90, abs=0.06)
        assert float(r["output tok/s"]) == pytest.approx(s.output_throughput_tok_s, abs=0.06)


# --------------------------------------------------------------------------- CSV / XLSX / JSON


def test_csv_rows(store, report_dir):
    cells = list(csv.DictReader(open(report_dir / "cells.csv", encoding="utf-8")))
    assert len(cells) == len(storage.run_dirs(store))
    picks = list(csv.DictReader(open(report_dir / "recommendations.csv", encoding="utf-8")))
    summaries = load_store(store).summaries
    expected = [(sc, p.run_id) for sc in ("cost", "latency", "throughput") for p in recommend(summaries, sc)]
    assert [(r["scenario"], r["run_id"]) for r in picks] == expected


def test_xlsx_sheets_and_row_counts(store, report_dir):
    from openpyxl import load_workbook

    wb = load_workbook(report_dir / "report.xlsx", read_only=True)
    assert {"About", "Most cost-effective", "Lowest latency", "Highest throughput", "All cells",
            "Requests"} <= set(wb.sheetnames)
    n_cells = len(storage.run_dirs(store))
    n_records = sum(len([r for r in storage.read_records(d) if not r.warmup]) for d in storage.run_dirs(store))
    rows = {name: sum(1 for _ in wb[name].iter_rows(values_only=True)) for name in wb.sheetnames}
    assert rows["All cells"] == n_cells + 1
    assert rows["Requests"] == n_records + 1
    n_models = len({s.labels["model"] for s in load_store(store).summaries})
    for sheet in ("Most cost-effective", "Lowest latency", "Highest throughput"):
        assert rows[sheet] == n_models + 1


def test_json_has_summaries_and_picks(store, report_dir):
    data = json.loads((report_dir / "report.json").read_text())
    summaries = load_store(store).summaries
    assert len(data["summaries"]) == len(summaries)
    for sc in ("cost", "latency", "throughput"):
        assert [p["run_id"] for p in data["picks"][sc]] == [p.run_id for p in recommend(summaries, sc)]
    front = pareto(summaries, per_concurrency=False)
    assert {p["run_id"] for p in data["pareto"]} == {p.run_id for p in front}


# --------------------------------------------------------------------------- HTML


def test_html_is_self_contained(report_dir):
    page = (report_dir / "report.html").read_text()
    assert not re.search(r"<(script|img|iframe)[^>]*\ssrc=", page)  # plotly.js inlined, nothing fetched
    assert not re.search(r"<link[^>]*href=", page)
    assert "Plotly.newPlot" in page
    assert "Content-Security-Policy" in page
    for chart in ("chart-latency-throughput", "chart-cost", "chart-ttft-dist", "chart-tpot-dist", "chart-scaling",
                  "chart-pareto"):
        assert f'id="{chart}"' in page


def _cheapest_meeting(store: Path, limit_ms: float):
    ok = [s for s in load_store(store).summaries
          if s.ttft_ms.p90 is not None and s.ttft_ms.p90 <= limit_ms and s.cost_per_1m_tokens is not None]
    return min(ok, key=lambda s: s.cost_per_1m_tokens) if ok else None


def test_html_answers_cheapest_under_500ms(store, report_dir):
    page = (report_dir / "report.html").read_text()
    m = re.search(r'<p id="slo-answer" class="(\w+)" data-run-id="([^"]*)">([^<]*)</p>', page)
    best = _cheapest_meeting(store, 500.0)
    assert best is not None
    assert m and m.group(2) == best.run_id
    assert html.unescape(m.group(3)).startswith("Cheapest meeting p90 TTFT ≤ 500 ms: " + best.deployment)
    # and it is not simply the cheapest cell: that one misses the limit in this store
    cheapest = min(load_store(store).summaries, key=lambda s: s.cost_per_1m_tokens)
    assert cheapest.ttft_ms.p90 > 500 and cheapest.run_id != best.run_id


def test_html_without_prices_ranks_by_throughput(tmp_path):
    deps = tuple(Dep(d.name, d.model, d.hardware, None, d.ttft_ms, d.tpot_ms) for d in DEFAULT_DEPS)
    root = make_store(tmp_path / "free", deps=deps, levels=(1, 5, 20), n=20)
    build_report(root, "html,md")
    page = (root / "report" / "report.html").read_text()
    m = re.search(r'<p id="slo-answer" class="(\w+)" data-run-id="([^"]*)">([^<]*)</p>', page)
    ok = [s for s in load_store(root).summaries if s.ttft_ms.p90 is not None and s.ttft_ms.p90 <= 500]
    assert m.group(2) == max(ok, key=lambda s: s.output_throughput_tok_s).run_id
    assert html.unescape(m.group(3)).startswith("No cell has a price; highest throughput meeting p90 TTFT ≤ 500 ms")
    assert "Cost per 1M tokens: not drawn" in page


def test_html_recommendations_match(store, report_dir):
    page = (report_dir / "report.html").read_text()
    for p in recommend(load_store(store).summaries, "cost"):
        assert html.escape(p.rule) in page


def test_every_format_escapes_names(tmp_path):
    deps = (Dep(MALICIOUS, MALICIOUS_MODEL, "hw<b>", 1.0, 50.0, 10.0), Dep(FORMULA, "7B", "cpu", 0.5, 80.0, 12.0))
    root = make_store(tmp_path / "evil", deps=deps, levels=(1, 5), n=10)
    build_report(root)
    page = (root / "report" / "report.html").read_text()
    for raw in (MALICIOUS, MALICIOUS_MODEL, "hw<b>"):
        assert raw not in page
    assert html.escape(MALICIOUS) in page
    # only the report's own scripts: error catcher, plotly, two JSON blocks, filter, notes opener, chart renderer
    assert len(re.findall(r"<script\b", page)) == 7
    md = (root / "report" / "report.md").read_text()
    assert MALICIOUS not in md and "&lt;script&gt;" in md
    cells_csv = (root / "report" / "cells.csv").read_text()
    assert "'" + FORMULA.replace('"', '""') in cells_csv  # csv-quoted, defused with a leading quote

    from openpyxl import load_workbook

    ws = load_workbook(root / "report" / "report.xlsx")["All cells"]
    deployments = [row[0] for row in ws.iter_rows(min_row=2, values_only=True)]
    assert "'" + FORMULA in deployments  # defused with a leading quote, as in CSV...
    assert all(c.data_type == "s" for c in ws["A"][1:])  # ...never as a formula


def test_safe_json_cannot_close_script():
    text = safe_json({"name": "</script><script>alert(1)</script>", "amp": "a&b", "nan": float("nan")})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>", "amp": "a&b", "nan": None}


# --------------------------------------------------------------------------- other inputs


def test_single_run_folder(tmp_path):
    root = make_store(tmp_path / "s", deps=DEFAULT_DEPS[:1], levels=(4,), n=12)
    run = storage.run_dirs(root)[0]
    written = build_report(run, "md,html,xlsx")
    assert {p.name for p in written} == {"report.md", "report.html", "report.xlsx"}
    assert all(p.parent == run / "report" for p in written)
    # the report folder is not mistaken for a run afterwards
    assert storage.run_dirs(run) == [run] and len(load_store(root).cells) == 1


def test_imported_data_without_records(tmp_path):
    root = import_like(tmp_path)
    build_report(root)
    from openpyxl import load_workbook

    wb = load_workbook(root / "report" / "report.xlsx", read_only=True)
    note = [r for r in wb["Requests"].iter_rows(values_only=True)]
    assert len(note) == 2 and "No per-request records" in note[1][0]
    page = (root / "report" / "report.html").read_text()
    assert "TTFT distribution: not drawn" in page and 'id="chart-ttft-dist"' not in page
    # the study basis uses the imported throughput figure
    build_report(root, "json", out=tmp_path / "study-basis", basis="study")
    data = json.loads((tmp_path / "study-basis" / "report.json").read_text())
    assert data["basis"] == "study"
    ext = {d.name: storage.read_meta(d).external for d in storage.run_dirs(root)}
    for p in data["picks"]["throughput"]:
        assert p["pick"]["tokens_per_s"] == pytest.approx(ext[p["run_id"]]["study_throughput_tok_s"])


@pytest.mark.required
@pytest.mark.skipif(not (seed_dir() / "sagemaker").is_dir(), reason="the 2023 seed data is not checked out")
def test_real_seed_import(tmp_path):
    from deploybench.seed import import_seed

    study = import_seed(seed_dir(), tmp_path)
    build_report(study, "md,xlsx")
    sections = md_sections((study / "report" / "report.md").read_text())
    summaries = load_store(study).summaries
    picks = recommend(summaries, "latency")
    assert len(md_table_rows(sections["Lowest latency"])) == len(picks) == 3


def test_slo_option_adds_a_table_and_sets_the_page_limit(store, tmp_path):
    slo = metrics.slo.parse("p90_ttft_ms<=300")
    build_report(store, "md,html", out=tmp_path, slo=slo)
    md = (tmp_path / "report.md").read_text()
    picks = recommend(load_store(store).summaries, "cost", slo=slo)
    rows = md_table_rows(md_sections(md)["Cheapest meeting the SLO"])
    assert [r["Deployment"] for r in rows] == [load_store(store).by_run_id(p.run_id).deployment
                                               for p in picks if p.run_id]
    page = (tmp_path / "report.html").read_text()
    assert 'id="slo-ttft_p90" name="ttft_p90" value="300"' in page


def test_bad_input_is_a_config_error(tmp_path, store):
    with pytest.raises(ConfigError, match="does not exist"):
        build_report(tmp_path / "nope")
    with pytest.raises(ConfigError, match="no runs"):
        build_report(tmp_path)
    with pytest.raises(ConfigError, match="unknown format"):
        parse_formats("md,pdf")
    with pytest.raises(ConfigError, match="basis"):
        build_report(store, "md", out=tmp_path / "x", basis="guess")
    assert parse_formats("markdown, HTML") == ["md", "html"] and parse_formats(None)[0] == "md"


def test_cli_report(store, tmp_path, capsys):
    from deploybench.cli import main

    assert main(["report", str(store), "--format", "md,csv", "--out", str(tmp_path / "r")]) == 0
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["cells.csv", "recommendations.csv", "report.md"]
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_report_figures_equal_summarize_without_stored_summary(tmp_path):
    """A folder without summary.json: `report` shows the figures `summarize` prints, with the cell's own
    SLO, client-lag limits and server-metric scrapes (one loader: storage.cells)."""
    from deploybench import api

    rng = np.random.default_rng(3)
    recs = make_records(24, 4, 60.0, 10.0, rng)
    for r in recs:
        r.scheduled_ns -= 2_000_000  # 2 ms of schedule lag: over this cell's own limit, under the default
    start, end = recs[0].sent_ns, max(r.done_ns for r in recs)
    meta = RunMeta(run_id="lagged__c4", deployment="lagged", concurrency=4, status="running", price_per_hour=1.0,
                   config={"load": {"slo": "p90_ttft_ms<=70", "max_lag_ms": 0.5, "lag_tolerance": 0.001}})
    run_dir = tmp_path / "study" / meta.run_id
    writer = storage.RunWriter(run_dir, meta)
    for r in recs:
        writer.append(r)
    writer.close("complete")
    scrapes = storage.JsonlAppender(run_dir / storage.SERVER_METRICS)
    for k in range(5):
        scrapes({"t_ns": start + (end - start) * k // 4, "values": {"llamacpp:requests_processing": float(k % 3)}})
    scrapes.close()
    assert not (run_dir / storage.SUMMARY).exists()

    (summarized,) = api.summarize(tmp_path / "study")
    assert summarized.server and "client-lag" in summarized.flags and summarized.goodput_rps is not None
    (reported,) = json.loads((build_report(tmp_path / "study", "json")[0]).read_text())["summaries"]
    assert reported == summarized.model_dump(mode="json")
    assert load_store(tmp_path / "study").summaries == api.load_summaries(tmp_path / "study") == [summarized]
