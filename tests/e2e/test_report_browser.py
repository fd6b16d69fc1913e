"""The HTML report in a real browser: headless Chromium over the DevTools protocol.

No JavaScript error, no request leaving the file, every chart drawn with data traces, names shown
as text (never run), and the "cheapest deployment meeting an SLO" filter answering correctly as a
reader types. A full-page screenshot goes to test-output/report-browser/.

Needs Debian's Chromium: ``apt-get install -y chromium``. The driver is scripts/browser_check.py
(standard library + aiohttp).
"""

from __future__ import annotations

import asyncio
import html
import importlib.util
import json
import os
import re
from pathlib import Path

import pytest

from tests.conftest import ci

from deploybench.report import load_store

from ..unit.test_report import DEFAULT_DEPS, MALICIOUS, MALICIOUS_MODEL, Dep, import_like, make_store

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "test-output" / "report-browser"


def _driver():
    spec = importlib.util.spec_from_file_location("browser_check", REPO / "scripts" / "browser_check.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bc = _driver()
pytestmark = [pytest.mark.timeout(240), pytest.mark.required]


@pytest.fixture(scope="module", autouse=True)
def _chromium():
    if bc.find_chromium() is None:
        reason = "chromium is not installed (apt-get install -y chromium; scripts/setup.sh --test does it)"
        if ci():
            pytest.fail(reason)  # CI's set-up installs it: a missing browser is a broken set-up, not a skip
        pytest.skip(reason)

SET_LIMIT = """(() => {{
  const el = document.getElementById({field!r});
  el.value = {value!r};
  el.dispatchEvent(new Event('input', {{bubbles: true}}));
  const a = document.getElementById('slo-answer');
  return JSON.stringify({{run_id: a.getAttribute('data-run-id'), text: a.textContent,
                          best_rows: document.querySelectorAll('#slo-table tr.best').length}});
}})()"""

SET_MODEL = """(() => {{
  const el = document.getElementById('slo-model');
  el.value = {model!r};
  el.dispatchEvent(new Event('change', {{bubbles: true}}));
  const a = document.getElementById('slo-answer');
  return JSON.stringify({{run_id: a.getAttribute('data-run-id'), text: a.textContent}});
}})()"""


def _cheapest(summaries, limit_ms=None, model=None):
    ok = [s for s in summaries if s.cost_per_1m_tokens is not None
          and (limit_ms is None or (s.ttft_ms.p90 is not None and s.ttft_ms.p90 <= limit_ms))
          and (model is None or s.labels.get("model") == model)]
    return min(ok, key=lambda s: s.cost_per_1m_tokens).run_id if ok else ""


def _assert_rendered(probe: dict, page: str, browser) -> None:
    assert browser.errors == [], browser.errors
    assert probe["page_errors"] == []
    assert browser.requests == [], f"the report fetched {browser.requests}"
    n_divs = len(re.findall(r'class="chart plotly-graph-div"', page))
    assert n_divs and len(probe["charts"]) == n_divs
    for chart in probe["charts"]:
        assert chart["svg"] >= 1, f"{chart['id']} drew no SVG"
        assert chart["traces"] >= 1 and chart["data"] >= 1, f"{chart['id']} has no data traces"


async def _same_answer_as_server(browser, report: Path) -> None:
    """The page's script, on its own, reaches the sentence Python wrote into the HTML."""
    page = report.read_text()
    await browser.open(report.as_uri())
    probe = await bc.wait_for_charts(browser)
    _assert_rendered(probe, page, browser)
    server = html.unescape(re.search(r'<p id="slo-answer"[^>]*>([^<]*)</p>', page).group(1))
    assert await browser.evaluate("document.getElementById('slo-answer').textContent") == server


async def _check(study: Path, imported: Path, unpriced: Path) -> None:
    page = (study / "report" / "report.html").read_text()
    summaries = load_store(study).summaries
    async with bc.Browser(width=1400, height=900) as browser:
        await browser.open((study / "report" / "report.html").as_uri())
        probe = await bc.wait_for_charts(browser)
        OUTPUT.mkdir(parents=True, exist_ok=True)
        shot = await browser.screenshot(OUTPUT / "report.png")
        _assert_rendered(probe, page, browser)
        assert await browser.evaluate("window.__xss === undefined")

        # the page's answer at load is the one computed in Python (and written into the HTML)
        server = html.unescape(re.search(r'<p id="slo-answer"[^>]*>([^<]*)</p>', page).group(1))
        assert await browser.evaluate("document.getElementById('slo-answer').textContent") == server
        assert await browser.evaluate("document.getElementById('slo-answer').getAttribute('data-run-id')") \
            == _cheapest(summaries, 500)

        # a reader types limits: the answer follows
        for limit in (250, 800, 1e9):
            got = json.loads(await browser.evaluate(SET_LIMIT.format(field="slo-ttft_p90", value=f"{limit:g}")))
            assert got["run_id"] == _cheapest(summaries, limit)
            assert got["best_rows"] == (1 if got["run_id"] else 0)
        got = json.loads(await browser.evaluate(SET_LIMIT.format(field="slo-ttft_p90", value="0.001")))
        assert got["run_id"] == "" and got["text"].startswith("No priced cell meets p90 TTFT")
        await browser.evaluate(SET_LIMIT.format(field="slo-ttft_p90", value="500"))
        got = json.loads(await browser.evaluate(SET_MODEL.format(model="13B")))
        assert got["run_id"] == _cheapest(summaries, 500, model="13B") and " among 13B" in got["text"]
        assert browser.errors == []

        # imported data: no records, fewer charts, still no error
        page2 = (imported / "report" / "report.html").read_text()
        await browser.open((imported / "report" / "report.html").as_uri())
        probe2 = await bc.wait_for_charts(browser)
        await browser.screenshot(OUTPUT / "report-imported.png")
        _assert_rendered(probe2, page2, browser)
        await _same_answer_as_server(browser, unpriced / "report" / "report.html")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_report_renders_in_chromium(tmp_path):
    deps = (*DEFAULT_DEPS, Dep(MALICIOUS, MALICIOUS_MODEL, "hw<i>", 0.8, 60.0, 12.0))
    study = make_store(tmp_path / "study", deps=deps, levels=(1, 5, 20), n=30)
    imported = import_like(tmp_path / "imp")
    unpriced = make_store(tmp_path / "free", deps=tuple(Dep(d.name, d.model, d.hardware, None, d.ttft_ms, d.tpot_ms)
                                                        for d in DEFAULT_DEPS), levels=(1, 5), n=10)
    from deploybench.cli import main

    for root in (study, imported, unpriced):  # as a user would
        assert main(["report", str(root), "--format", "html"]) == 0
    asyncio.run(_check(study, imported, unpriced))


FIRST_SCREEN = """JSON.stringify({
  scroll_width: document.documentElement.scrollWidth, inner_width: window.innerWidth,
  cards: Array.from(document.querySelectorAll('#picks .pick-card')).map(c => ({
    bottom: c.getBoundingClientRect().bottom + window.scrollY, rule: c.getAttribute('title'),
    run_id: c.getAttribute('data-run-id')})),
  slo_form: document.getElementById('slo-form').getBoundingClientRect().top + window.scrollY,
  caveats: Array.from(document.querySelectorAll('#caveats a')).map(a => a.getAttribute('href')),
  notes_open: document.getElementById('notes').open})"""


async def _first_screen(report: Path, recs) -> None:
    picks = [p for rec in recs for p in rec.picks]
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for width, height in ((390, 844), (1400, 900)):
        async with bc.Browser(width=width, height=height) as browser:
            await browser.open(report.as_uri())
            await bc.wait_for_charts(browser)
            got = json.loads(await browser.evaluate(FIRST_SCREEN))
            await browser.screenshot(OUTPUT / f"first-screen-{width}.png", full_page=False)
            assert browser.errors == []
            assert got["scroll_width"] <= got["inner_width"], f"horizontal scroll at {width} px: {got}"
            assert len(got["cards"]) == len(picks)
            assert [c["run_id"] for c in got["cards"]] == [p.run_id for p in picks]
            for card, pick in zip(got["cards"], picks):
                assert card["rule"].startswith(f"Rule: {pick.rule}")  # the rule, in the tooltip
            if width == 1400:  # the answer on the first screen: every card, and the SLO picker starts there
                assert max(c["bottom"] for c in got["cards"]) <= 900, got["cards"]
                assert got["slo_form"] < 900
            # one line of caveats, each linking to its note in the folded Notes section, which opens on a click
            assert got["caveats"] and not got["notes_open"]
            for href in got["caveats"]:
                assert await browser.evaluate(f"document.getElementById('notes').contains("
                                              f"document.getElementById({href[1:]!r}))")
            await browser.evaluate(f"document.querySelector('#caveats a').click()")
            await asyncio.sleep(0.2)
            assert await browser.evaluate("document.getElementById('notes').open")


def test_report_first_screen_answers_at_phone_and_desktop_width(tmp_path):
    from deploybench.report.context import build_context

    deps = (*DEFAULT_DEPS, Dep(MALICIOUS, MALICIOUS_MODEL, "hw<i>", 0.8, 60.0, 12.0))
    study = make_store(tmp_path / "study", deps=deps, levels=(1, 5, 20), n=30)
    from deploybench.cli import main

    assert main(["report", str(study), "--format", "html"]) == 0
    page = (study / "report" / "report.html").read_text()
    # the cell-name lists are in the folded Notes, after the picks; none sits above the first card
    assert page.index('id="picks"') < page.index('<details id="notes">') < page.index('class="note"')
    asyncio.run(_first_screen(study / "report" / "report.html", build_context(study).recommendations))
