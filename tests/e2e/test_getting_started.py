"""docs/getting-started.md, run as written: every command in its ```bash blocks, in order.

The endpoint URL is pointed at a scripted OpenAI-compatible server; commands marked
``# on the GPU box`` are deploybench commands run with ``--dry-run`` or, for the box's own set-up
(creating vLLM's environment), checked for shell syntax only; ``pip install`` lines are checked to
be satisfied in this environment (tests stay off the network). Anything else fails the test, so a
new kind of command in the doc needs a rule here.
"""

import importlib.metadata
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from deploybench.testing.servers import scripted_server
from tests.conftest import REPO

DOC = REPO / "docs" / "getting-started.md"
DOC_URL = "http://localhost:8000"
GPU_MARK = "# on the GPU box"


def doc_commands(text: str) -> list[str]:
    """Commands of every ```bash block, continuation lines joined, blank and comment-only lines dropped."""
    cmds: list[str] = []
    for block in re.findall(r"^ *```bash\n(.*?)^ *```", text, flags=re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", block)
        cmds += [ln.strip() for ln in joined.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    return cmds


def _check_pip(words: list[str]) -> None:
    from packaging.requirements import Requirement

    assert words[:2] == ["pip", "install"], words
    for arg in words[2:]:
        if arg.startswith("-"):
            continue
        name = "deploybench" if arg == "." else arg
        req = Requirement(name)
        version = importlib.metadata.version(req.name)  # raises if not installed
        assert req.specifier.contains(version, prereleases=True), f"{arg}: installed {version}"


def _run(words: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    p = subprocess.run([sys.executable, "-m", "deploybench", *words[1:]], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"{shlex.join(words)}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
    assert "Traceback" not in p.stdout + p.stderr
    return p


def run_doc_command(cmd: str, url: str, cwd: Path, env: dict) -> subprocess.CompletedProcess | None:
    gpu = cmd.rstrip().endswith(GPU_MARK) or GPU_MARK in cmd
    words = shlex.split(cmd.replace(DOC_URL, url), comments=True)
    if words[0] == "pip":
        return _check_pip(words)
    if words[0] == "export":
        name, _, value = words[1].partition("=")
        env[name] = os.path.expanduser(value)
        return None
    if words[0] == "deploybench":
        if gpu and "--dry-run" not in words:
            words.append("--dry-run")
        return _run(words, cwd, env)
    if gpu:  # the GPU box's own set-up: cannot run here; check that it is valid shell
        syntax = subprocess.run(["bash", "-n", "-c", cmd], capture_output=True, text=True)
        assert syntax.returncode == 0, f"{cmd}: {syntax.stderr}"
        return None
    raise AssertionError(f"docs/getting-started.md runs a command this test has no rule for: {cmd}")


def test_doc_commands_are_recognised():
    cmds = doc_commands(DOC.read_text())
    assert any(c.startswith("deploybench run --endpoint") for c in cmds)
    assert any("examples/vllm-gpu.yaml --dry-run" in c for c in cmds)
    assert any(c.startswith("deploybench report") for c in cmds)
    assert "getting-started.md" in (REPO / "README.md").read_text()


@pytest.mark.slow
def test_getting_started_as_written(tmp_path):
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    env = {**os.environ, "HOME": str(tmp_path / "home"), "DEPLOYBENCH_CACHE": str(tmp_path / "cache")}
    env.pop("DEPLOYBENCH_VLLM_PYTHON", None)
    results = {}
    with scripted_server(ttft_ms=20, itl_ms=3) as url:  # a GPU server's pace, light on the client
        for cmd in doc_commands(DOC.read_text()):
            results[cmd] = run_doc_command(cmd, url, tmp_path, env)
    first = next(p for c, p in results.items() if c.startswith("deploybench run --endpoint"))
    html = tmp_path / "runs" / "my-endpoint" / "report" / "report.html"
    assert f"report: runs/my-endpoint/report/report.html" in first.stdout, first.stdout[-500:]
    assert html.is_file()
    dry = next(p for c, p in results.items() if "vllm-gpu.yaml" in c and GPU_MARK not in c)
    assert "48 cells (48 to run)" in dry.stdout and "g6e.xlarge" in dry.stdout  # 16 cells x 3 rounds
    assert not (tmp_path / "runs" / "vllm-gpu").exists(), "a dry run must start nothing"
    compare = next(p for c, p in results.items() if c.startswith("deploybench compare"))
    assert "c=16" in compare.stdout
