"""`deploybench import` / `export` as a user runs them: every format's fixture imports, a bad file is one line
on stderr with nothing stored, and the imported store answers recommend and compare."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "import"
_SCRIPT = Path(sys.executable).parent / "deploybench"
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else ([shutil.which("deploybench")] if shutil.which("deploybench")
                                              else [sys.executable, "-m", "deploybench"])
FLAGS = ["--hardware", "ml.g5.2xlarge", "--engine", "vllm", "--precision", "bf16", "--tp", "1", "--gpus", "1"]


def run_cli(*args, timeout=120):
    return subprocess.run([*CLI, *map(str, args)], capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("fmt, path, cells", [
    ("vllm-bench", DATA / "vllm-bench-detailed.json", ["per-request"]),
    ("guidellm", DATA / "guidellm-benchmarks.json", ["per-request", "per-request"]),
    ("aiperf", DATA / "aiperf" / "profile_export.jsonl", ["per-request"]),
    ("llmperf", DATA / "llmperf" / "meta-llama-Llama-2-7b-hf_10_4_summary.json", ["summary-only"]),
    ("table", DATA / "published-table.csv", ["summary-only"] * 17),
])
def test_each_format_imports_from_the_command_line(tmp_path, fmt, path, cells):
    p = run_cli("import", path, "--from", fmt, "--out", tmp_path, "--name", "s", "--json", *FLAGS)
    assert p.returncode == 0, p.stderr
    body = json.loads(p.stdout)
    assert [c["data"] for c in body["cells"]] == cells
    assert all("schedule_lag_ms" in c["missing"] for c in body["cells"])
    rec = run_cli("recommend", tmp_path / "s", "--scenario", "cost", "--json", "--max-error-rate", "0.5")
    assert rec.returncode == 0, rec.stderr


def test_a_bad_file_is_one_line_and_stores_nothing(tmp_path):
    cut = tmp_path / "cut.json"
    cut.write_text((DATA / "vllm-bench-detailed.json").read_text()[:500])
    p = run_cli("import", DATA / "vllm-bench-summary.json", cut, "--from", "vllm-bench", "--out", tmp_path / "o")
    assert p.returncode == 2 and "Traceback" not in p.stderr + p.stdout
    err = p.stderr.strip()
    assert len(err.splitlines()) == 1 and "cut.json" in err and "truncated" in err, err
    assert not (tmp_path / "o").exists()
    unknown = run_cli("import", cut, "--from", "genai-perf", "--out", tmp_path / "o")
    assert unknown.returncode == 2 and "unknown format 'genai-perf'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_export_writes_the_table_and_compare_reads_two_tools(tmp_path):
    assert run_cli("import", DATA / "vllm-bench-detailed.json", "--from", "vllm-bench", "--out", tmp_path,
                   "--name", "v", *FLAGS).returncode == 0
    assert run_cli("import", DATA / "aiperf" / "profile_export.jsonl", "--from", "aiperf", "--out", tmp_path,
                   "--name", "a", *FLAGS).returncode == 0
    p = run_cli("export", tmp_path / "v", "--to", "table")
    assert p.returncode == 0 and (tmp_path / "v" / "export-table.csv").is_file(), p.stderr
    header = (tmp_path / "v" / "export-table.csv").read_text().splitlines()[0].split(",")
    assert header[:9] == ["deployment", "model", "hardware", "gpus", "engine", "precision", "tp", "input_tokens",
                          "output_tokens"]
    cmp = run_cli("compare", tmp_path / "v", tmp_path / "a", "--json")
    assert cmp.returncode == 0, cmp.stderr
    cells = json.loads(cmp.stdout)["cells"]
    ttft = {c["metric"]: c for c in cells[0]["changes"]}["ttft_p50_ms"]
    assert ttft["a"] == pytest.approx(55.0) and ttft["b"] == pytest.approx(55.0)  # the same requests, two tools
