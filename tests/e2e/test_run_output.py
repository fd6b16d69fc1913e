"""What `deploybench run` leaves a user with: whole progress lines when piped (cells done, the current cell,
elapsed and time left), one screen at the end, and the report's path last."""

import json
import os
import re
import subprocess
from pathlib import Path

import yaml

from deploybench.engines.process import free_port
from deploybench.testing.servers import scripted_server
from tests.e2e.test_cli import CLI

CELL = r"endpoint__c\d+"
CLOCK = r"\d+m\d\ds"
STARTED = rf"\[\d+/\d+\] {CELL}: started; elapsed {CLOCK}, left (\?|~{CLOCK})"
INTERIM = rf"  {CELL}: \d+ req, [\d.]+ tok/s, TTFT p50 (\d+|nan) ms, \d+ errors, \d+s"
PROGRESS = [STARTED, rf"\[\d+/\d+\] {CELL}: done, [\d.]+ tok/s, \d+ errors"]
OTHER = [r"results: \S+", r"report: \S+"]
PHRASES = ("started", "elapsed", "left", "tok/s", "TTFT p50", "errors", "done, ", "report: ")


def _cli(*args, columns: int = 40, **kw) -> subprocess.CompletedProcess:
    """The CLI piped (stdout and stderr are pipes), on a narrow console: anything wrapped would break."""
    env = {**os.environ, "COLUMNS": str(columns)}
    env.pop("FORCE_COLOR", None)
    if args and args[0] == "run" and "--rounds" not in args:  # one round: these tests read one run's output
        args = (*args, "--rounds", "1")
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=240, env=env, **kw)


def _endpoint_run(url: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return _cli("run", "--endpoint", url, "--model", "scripted", "-c", "1,4", "-n", "12", "--max-tokens", "12",
                "--out", str(out), "--name", "piped-run", *extra)


def _report_path(line_source: str) -> Path:
    lines = [ln for ln in line_source.splitlines() if ln.startswith("report: ")]
    assert len(lines) == 1, line_source
    return Path(lines[0].removeprefix("report: "))


def test_piped_progress_lines_are_whole_and_run_ends_with_report(tmp_path):
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        p = _endpoint_run(url, tmp_path)
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    for ln in lines:
        assert any(re.fullmatch(pat, ln) for pat in PROGRESS + OTHER), f"broken or unknown line: {ln!r}"
    for phrase in PHRASES:  # every phrase appears, and only ever whole
        assert any(phrase in ln for ln in lines + p.stdout.splitlines()), phrase
    assert sum(": started; " in ln for ln in lines) == 2
    assert sum(": done, " in ln for ln in lines) == 2
    # time left: unknown before the first cell (no plan for an endpoint), measured from the first cell on
    assert re.search(r"\[1/2\] .*left \?$", lines[0]) and re.search(r"\[2/2\] .*left ~", p.stderr)
    assert "\x1b[" not in p.stderr, "no terminal control codes in a pipe"
    # the end: one screen on stdout, at most 40 lines of at most 100 columns, every cell in its table
    screen = p.stdout.rstrip().splitlines()
    assert screen[0] == f"deploybench — {tmp_path / 'piped-run'}: 2 cells", screen
    assert len(screen) <= 40 and max(map(len, screen)) <= 100
    assert sum(ln.startswith("endpoint ") for ln in screen) == 2, screen
    # the run ends with the report's path, last on stdout
    assert p.stdout.rstrip().splitlines()[-1].startswith("report: ")
    html = _report_path(p.stdout)
    assert html == tmp_path / "piped-run" / "report" / "report.html" and html.is_file()
    assert {f.name for f in html.parent.iterdir()} >= {"report.html", "report.md", "report.json"}


def test_verbose_adds_interim_lines_and_details_the_full_tables(tmp_path):
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        p = _endpoint_run(url, tmp_path, "--verbose", "--details")
    assert p.returncode == 0, p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    for ln in lines:
        assert any(re.fullmatch(pat, ln) for pat in PROGRESS + OTHER + [INTERIM]), f"broken or unknown line: {ln!r}"
    assert any(re.fullmatch(INTERIM, ln) for ln in lines)  # the first request of a cell is said at once
    # --details: the wide tables of every figure and of where TTFT goes, before the one screen
    assert "srv run/queue" in p.stdout and "where time to first token goes" in p.stdout
    assert p.stdout.rstrip().splitlines()[-1].startswith("report: ")


def test_json_stdout_stays_json_and_no_report_skips(tmp_path):
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        p = _endpoint_run(url, tmp_path, "--json")
        q = _endpoint_run(url, tmp_path / "skip", "--no-report")
    assert p.returncode == 0, p.stderr
    assert [d["concurrency"] for d in json.loads(p.stdout)] == [1, 4]
    assert _report_path(p.stderr).is_file()
    assert q.returncode == 0, q.stderr
    assert "report: " not in q.stdout + q.stderr
    assert not (tmp_path / "skip" / "piped-run" / "report").exists()


def test_study_with_a_failed_deployment_still_reports_what_was_measured(tmp_path):
    with scripted_server(ttft_ms=5, itl_ms=1) as url:
        study = {
            "name": "half-failed",
            "deployments": [
                {"name": "endpoint", "engine": {"kind": "external", "url": url, "model": "scripted"},
                 "hardware": {"name": "box", "price_per_hour": 1.0}},
                {"name": "broken", "engine": {"kind": "llamacpp", "model": "smollm2", "binary": "/bin/false",
                                               "port": free_port(), "startup_timeout_s": 5},
                 "hardware": {"name": "cpu", "price_per_hour": 0.1}},
            ],
            "workload": {"source": {"kind": "synthetic", "input_tokens": 16, "prompts": 8}, "max_tokens": 8},
            "load": {"rounds": 1, "concurrency": [1, 2], "requests": 6, "warmup_requests": 0},
        }
        path = tmp_path / "study.yaml"
        path.write_text(yaml.safe_dump(study))
        p = _cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert p.returncode == 3, p.stdout + p.stderr
    assert "error: broken: " in p.stderr and "Traceback" not in p.stderr
    html = _report_path(p.stdout)
    assert html.is_file()
    cells = json.loads((html.parent / "report.json").read_text())["summaries"]
    assert sorted(c["run_id"] for c in cells) == ["endpoint__c1", "endpoint__c2"]


def test_nothing_measured_says_so(tmp_path):
    study = {
        "name": "all-failed",
        "deployments": [{"name": "broken", "engine": {"kind": "llamacpp", "model": "smollm2", "binary": "/bin/false",
                                                      "port": free_port(), "startup_timeout_s": 5},
                         "hardware": {"name": "cpu", "price_per_hour": 0.1}}],
        "workload": {"source": {"kind": "synthetic", "input_tokens": 16, "prompts": 8}, "max_tokens": 8},
        "load": {"rounds": 1, "concurrency": [1], "requests": 2, "warmup_requests": 0},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    p = _cli("run", str(path), "--out", str(tmp_path / "runs"))
    assert p.returncode == 3 and "Traceback" not in p.stderr
    assert p.stderr.rstrip().splitlines()[-1] == "report: not written: nothing was measured"
