"""The layer contracts in pyproject.toml ([tool.importlinter]) hold: CI fails on an import that points
up a layer, a CLI module reaching around deploybench.api, or a reader of stored data driving load."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_contracts_are_kept():
    lint = Path(sys.executable).parent / "lint-imports"
    assert lint.exists(), "import-linter is missing: bash scripts/setup.sh --test installs it (the test extra)"
    proc = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    report = proc.stdout + proc.stderr
    assert proc.returncode == 0, report[-4000:]
    contracts = len(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"])
    assert "0 broken" in report and f"{contracts} kept" in report, report[-2000:]
