"""The end of a study as a person reads it in a 100-column terminal: one screen, every pick named.

The CLI runs under a real pseudo-terminal (python's ``pty``, window 100 x 50, ``COLUMNS=100``) so rich
draws its live progress line as it would for a user; a small terminal model below replays what the
terminal would show (carriage returns, erased lines, cursor moves), and the test reads the screen.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import yaml

from deploybench import api
from deploybench.testing.servers import scripted_server

pytestmark = pytest.mark.timeout(300)

COLS, ROWS = 100, 50
CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\x1b\][^\x07]*\x07")


def replay(raw: str) -> list[str]:
    """What a terminal shows after ``raw``: the lines, no wrapping (a line over COLS stays long, so a
    test sees it), with carriage return, line feed, erase line and cursor up/down applied."""
    lines, row, col, pos = [""], 0, 0, 0

    def put(text: str) -> None:
        nonlocal col
        line = lines[row].ljust(col)
        lines[row] = line[:col] + text + line[col + len(text):]
        col += len(text)

    while pos < len(raw):
        m = CSI.match(raw, pos)
        if m:
            arg, cmd = (m.group(1) or ""), (m.group(2) or "")
            n = int(arg) if arg.isdigit() else 1
            if cmd == "K":  # erase in line: 2 = all of it, else from the cursor on
                lines[row] = "" if arg == "2" else lines[row][:col]
            elif cmd == "A":
                row = max(row - n, 0)
            elif cmd == "B":
                row += n
                lines.extend([""] * (row + 1 - len(lines)))
            elif cmd == "G":
                col = n - 1
            pos = m.end()
            continue
        ch = raw[pos]
        pos += 1
        if ch == "\n":
            row, col = row + 1, 0
            lines.extend([""] * (row + 1 - len(lines)))
        elif ch == "\r":
            col = 0
        elif ch >= " ":
            start = pos - 1
            while pos < len(raw) and raw[pos] >= " " and raw[pos] != "\x1b":
                pos += 1
            put(raw[start:pos])
    return [ln.rstrip() for ln in lines]


def run_in_terminal(args: list[str], timeout: float = 240, cwd: Path | None = None) -> tuple[int, str]:
    """The CLI with stdin, stdout and stderr on one pseudo-terminal of COLS x ROWS; (exit code, raw output)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    env = {**os.environ, "COLUMNS": str(COLS), "LINES": str(ROWS), "TERM": "xterm-256color"}
    for var in ("NO_COLOR", "FORCE_COLOR", "CI", "TERM_PROGRAM"):
        env.pop(var, None)
    proc = subprocess.Popen([sys.executable, "-m", "deploybench", *args], stdin=slave, stdout=slave, stderr=slave,
                            env=env, close_fds=True, cwd=cwd)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        else:
            proc.kill()
            pytest.fail("the run did not finish in time")
        rc = proc.wait(timeout=30)
    finally:
        os.close(master)
    return rc, b"".join(chunks).decode("utf-8", "replace")


def _study(tmp_path: Path, fast: str, slow: str) -> Path:
    def dep(name, url, model, quant, hw, price):
        return {"name": name, "engine": {"kind": "external", "url": url, "model": "scripted"},
                "hardware": {"name": hw, "price_per_hour": price},
                "labels": {"model": model, "quantization": quant, "hardware": hw}}

    study = {
        "name": "screen",
        "deployments": [  # names longer than the screen's 24 columns: shortened, with a legend
            dep("alpha-model-7b-instruct_Q8_0_box-fast", fast, "alpha-model-7b-instruct", "Q8_0", "box-fast", 1.0),
            dep("alpha-model-7b-instruct_Q4_K_M_box-slow", slow, "alpha-model-7b-instruct", "Q4_K_M", "box-slow", 0.5),
            dep("beta-model-13b-chat_Q8_0_box-fast", fast, "beta-model-13b-chat", "Q8_0", "box-fast", 1.0),
            dep("beta-model-13b-chat_Q4_K_M_box-slow", slow, "beta-model-13b-chat", "Q4_K_M", "box-slow", 0.5),
        ],
        "workload": {"source": {"kind": "synthetic", "input_tokens": 16, "prompts": 400}, "max_tokens": 8},
        "load": {"rounds": 2, "concurrency": [1, 4], "requests": 12, "warmup_requests": 0,
                 "slo": "p90_ttft_ms<=500"},
    }
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(study))
    return path


def _legend(screen: list[str]) -> dict[str, str]:
    """full part -> short part, read from the screen's legend line."""
    line = next((ln for ln in screen if ln.startswith("short names: ")), "")
    pairs = [p.split(" = ") for p in line.removeprefix("short names: ").split("; ") if " = " in p]
    return {full: short for short, full in pairs}


def test_end_of_a_study_fits_one_100_column_screen(tmp_path):
    with scripted_server(ttft_ms=4, itl_ms=1) as fast, scripted_server(ttft_ms=12, itl_ms=3) as slow:
        # as a user runs it: from a working folder, results under runs/ (the report's path is then short)
        rc, raw = run_in_terminal(["run", str(_study(tmp_path, fast, slow)), "--out", "runs"], cwd=tmp_path)
    screen = replay(raw)
    assert rc == 0, "\n".join(screen)
    study_dir = Path("runs") / "screen"
    assert re.search(r"cells .*\d+/16.*left", raw), "no live progress line with the time left"
    start = next(i for i, ln in enumerate(screen) if ln.startswith(f"deploybench — {study_dir}: 8 cells"))
    end = [ln for ln in screen[start:] if ln.strip()]
    text = "\n".join(end)
    assert len(end) <= 40, text
    assert max(len(ln) for ln in end) <= COLS, text
    assert end[-1] == f"report: {study_dir / 'report' / 'report.html'}", text
    legend = _legend(end)
    assert legend, text  # the long model names were shortened, and the legend says how

    def short(name: str) -> str:
        return "_".join(legend.get(part, part) for part in name.split("_"))

    summaries = api.load_summaries(tmp_path / study_dir)
    titles = {"cost": "cost", "latency": "latency", "throughput": "throughput"}
    named = 0
    for scenario, slo in (*((s, None) for s in titles), ("cost", "p90_ttft_ms<=500")):
        for pick in api.recommend_picks(summaries, scenario, slo=slo):
            assert pick.deployment, pick
            title = "SLO" if slo else titles[scenario]
            rows = [ln for ln in end if ln.split()[:2] == [title, short(pick.group)]]
            assert len(rows) == 1 and f" {short(pick.deployment)} " in rows[0], (scenario, slo, pick.deployment, text)
            named += 1
    assert named == 8  # 2 models x (3 rules + the SLO)
    cells = [ln for ln in end if ln.split()[:1] and ln.split()[0] in {short(s.deployment) for s in summaries}]
    assert len(cells) == 8, text  # every cell in the compact table, once
