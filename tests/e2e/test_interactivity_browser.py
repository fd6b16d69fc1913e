"""The report's interactivity section in headless Chromium: both charts drawn with the curves' measured points,
the front and the read-offs; the read-off table equal to the figures Python computes; names shown as text."""

from __future__ import annotations

import asyncio
import json

import pytest

import deploybench
from deploybench.report import build_report

from .test_report_browser import OUTPUT, _assert_rendered, bc
from ..unit.test_report import DEFAULT_DEPS, MALICIOUS, Dep, make_store

pytestmark = [pytest.mark.timeout(240), pytest.mark.required]

PLOT = """(() => {{
  const d = document.getElementById({id!r}).data;
  return JSON.stringify(d.map(t => ({{kind: t.meta && t.meta.kind, deployment: t.meta && t.meta.deployment,
                                     name: t.name, x: Array.from(t.x), y: Array.from(t.y)}})));
}})()"""
TABLE = """JSON.stringify(Array.from(document.querySelectorAll('#interactivity-table tbody tr')).map(
  r => [r.getAttribute('data-deployment'), r.getAttribute('data-status')].concat(
        Array.from(r.querySelectorAll('td')).map(td => td.textContent))))"""


def _fmt(v):
    return "—" if v is None else f"{v:.4g}"


async def _probe(html_path):
    async with bc.Browser(width=1400, height=900) as browser:
        await browser.open(html_path.resolve().as_uri())
        probe = await bc.wait_for_charts(browser)
        OUTPUT.mkdir(parents=True, exist_ok=True)
        await browser.screenshot(OUTPUT / "report-interactivity.png")
        _assert_rendered(probe, html_path.read_text(), browser)
        plots = {cid: json.loads(await browser.evaluate(PLOT.format(id=cid)))
                 for cid in ("chart-interactivity-tput", "chart-interactivity-cost")}
        return plots, json.loads(await browser.evaluate(TABLE)), await browser.evaluate("window.__xss === undefined")


def test_interactivity_section_draws_the_curves_and_the_read_off_table(tmp_path):
    if bc.find_chromium() is None:
        pytest.skip("chromium is not installed (scripts/setup.sh --test installs it)")
    deps = (*DEFAULT_DEPS, Dep(MALICIOUS, "7B", "ml.g5.12xlarge", 7.09, 60.0, 10.0))
    root = make_store(tmp_path / "study", deps=deps, levels=(1, 5, 20), n=20)
    html_path = build_report(root, "html", root / "report")[0]
    assert MALICIOUS not in html_path.read_text()
    plots, rows, no_xss = asyncio.run(_probe(html_path))
    assert no_xss
    view = deploybench.interactivity(root)
    curves = {c.deployment: c for c in view.curves}

    # every curve trace carries its deployment's measured points, slowest per user first
    tput = [t for t in plots["chart-interactivity-tput"] if t["kind"] == "curve"]
    assert {t["deployment"] for t in tput} == {"big-gpu", "big-model", MALICIOUS}  # small-cpu: no device count
    for t in tput:
        pts = curves[t["deployment"]].points
        assert t["x"] == pytest.approx([p.tok_s_user for p in pts]) and t["y"] == pytest.approx([p.tok_s_device for p in pts])
    cost = {t["deployment"] for t in plots["chart-interactivity-cost"] if t["kind"] == "curve"}
    assert cost == set(curves)  # every deployment has a price
    front = [t for t in plots["chart-interactivity-tput"] if t["kind"] == "front"]
    want = [f for f in view.fronts if f.axis == "tok_s_device"]
    assert sum(len(t["x"]) for t in front) == len(want) > 0

    # the table: one row per deployment and target, the figures Python reads off
    targets = sorted({float(r[5]) for r in rows})
    assert targets and len(rows) == len(targets) * len(curves)
    for dep, status, *tds in rows:
        r = next(o for o in deploybench.interactivity(root, at=float(tds[3])).read_offs if o.deployment == dep)
        assert status == r.status and tds[5] == _fmt(r.tok_s_device) and tds[7] == _fmt(r.cost_per_1m)
        if status == "outside":
            assert "not extrapolated" in tds[9]
    marks = [t for t in plots["chart-interactivity-cost"] if t["kind"] == "read-off"]
    done = [r for r in rows if r[1] in ("measured", "interpolated")]
    assert marks and len(marks[0]["x"]) == len(done)
