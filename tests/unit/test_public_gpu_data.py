"""The bundled public GPU results: checksums as documented, conversion reproducible, table columns present."""

import csv
import hashlib
import re
import runpy
from pathlib import Path

import pytest

from deploybench.catalog import load_catalog

DIR = Path(__file__).resolve().parents[1] / "data" / "public-gpu"
CSV = DIR / "dstack-gpu-results.csv"
REQUIRED = ("model", "hardware", "gpus", "engine", "precision", "tp", "input_tokens", "output_tokens")


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_checksums_match_the_readme():
    readme = (DIR / "README.md").read_text(encoding="utf-8")
    listed = dict(re.findall(r"\| `([^`]+)`[^|]*\| `([0-9a-f]{64})` \|", readme))
    assert len(listed) == 4
    for name, digest in listed.items():
        assert _sha(DIR / name) == digest, name


def test_conversion_is_reproducible(tmp_path):
    mod = runpy.run_path(str(DIR / "convert.py"))
    out = tmp_path / "again.csv"
    mod["main"](out)
    assert out.read_bytes() == CSV.read_bytes()


def test_rows_are_complete_table_rows():
    rows = list(csv.DictReader(CSV.open(encoding="utf-8")))
    assert len(rows) == 57 and CSV.stat().st_size < 1_000_000
    gpus = load_catalog().gpus
    for i, r in enumerate(rows):
        assert all(r[c] for c in REQUIRED), i
        assert r["concurrency"] or r["rate_rps"], i
        assert r["hardware"] in gpus, r["hardware"]
        assert float(r["tpot_p50_ms"]) > 0 and float(r["ttft_p50_ms"]) > 0 and r["source"].startswith("dstackai/")
    hw = {r["hardware"] for r in rows}
    assert hw == {"H200-SXM-141GB", "MI300X-192GB", "H100-SXM5-80GB"}
    r1 = [r for r in rows if r["model"] == "deepseek-ai/DeepSeek-R1"]
    assert {r["concurrency"] for r in r1} == {"4", "8", "16", "32", "64", "128"}
    assert {r["output_tokens"] for r in r1} == {"800", "1600", "3200", "6400"}
    assert {r["engine"] for r in r1} == {"vllm", "sglang", "tensorrt-llm"}


@pytest.mark.parametrize("hw", ["H200-SXM-141GB", "MI300X-192GB"])
def test_decode_steps_are_not_faster_than_the_memory_roofline(hw):
    """Sanity of units: TPOT >= active FP8 weights read once / (8 GPUs x bandwidth)."""
    from deploybench.catalog import architecture

    bw = load_catalog().gpus[hw].memory_bandwidth_gbs * 1e9 * 8
    floor_ms = architecture("DeepSeek-R1").active_params * 1.0 / bw * 1e3
    for r in csv.DictReader(CSV.open(encoding="utf-8")):
        if r["hardware"] == hw and r["model"].endswith("DeepSeek-R1"):
            assert float(r["tpot_p50_ms"]) > floor_ms
