"""The report's quality section and cost-vs-quality chart in headless Chromium: drawn with data,
no JavaScript error, no request leaving the file, names shown as text (never run)."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.conftest import ci

from deploybench.quality import QualityResult, QualityTable, write_table
from deploybench.report import build_report

from .test_report_browser import OUTPUT, bc
from ..unit.test_report import MALICIOUS, MALICIOUS_MODEL, Dep, make_store

pytestmark = [pytest.mark.timeout(240), pytest.mark.required]


def _result(dep: str, kld: float) -> QualityResult:
    return QualityResult(method="kld", model=MALICIOUS_MODEL, quantization="Q", deployments=[dep], kld=kld,
                         perplexity_change=kld / 2, top1_agreement=1 - kld, baseline=f"{MALICIOUS} as shipped")


def test_quality_chart_renders_and_escapes(tmp_path):
    if bc.find_chromium() is None:
        if ci():
            pytest.fail("chromium is not installed (scripts/setup.sh --test installs it)")
        pytest.skip("chromium is not installed")
    deps = (Dep("q8", MALICIOUS_MODEL, "cpu", 0.10, 100.0, 25.0, quantization="Q8_0"),
            Dep(MALICIOUS, MALICIOUS_MODEL, "cpu", 0.10, 60.0, 12.0, quantization="Q2_K"))
    root = make_store(tmp_path / "study", deps=deps, levels=(1, 5), n=10)
    write_table(root, QualityTable(method="kld", results=[_result("q8", 0.004), _result(MALICIOUS, 0.4)]))
    html_path = build_report(root, "html", root / "report")[0]
    page = html_path.read_text()
    assert MALICIOUS not in page and 'id="quality-table"' in page
    OUTPUT.mkdir(parents=True, exist_ok=True)
    result = asyncio.run(bc.check_report(html_path, OUTPUT / "report-quality.png"))
    assert result["ok"], result
    charts = {c["id"]: c for c in result["charts"]}
    assert charts["chart-quality"]["traces"] >= 2  # all deployments, and the model's front
