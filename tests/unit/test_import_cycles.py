"""No circles: deploybench's import graph (module-level and function-level imports, relative and
absolute, a package's `__init__` counted as a module) has no strongly connected component of more than
one module. The graph is built with `ast` by scripts/structure.py, which also prints it for people."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_spec = importlib.util.spec_from_file_location("deploybench_structure", ROOT / "scripts" / "structure.py")
structure = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(structure)



def test_the_graph_covers_the_whole_tree():
    graph = structure.import_graph()
    files = {p for p in (ROOT / "src" / "deploybench").rglob("*.py")}
    assert len(graph) == len(files)
    assert "deploybench.api" in graph and "deploybench.report.html" in graph
    # relative, absolute, `from . import x` and function-level imports all count
    assert "deploybench.schemas" in graph["deploybench.api"]


def test_no_import_cycles():
    found = [sorted(c) for c in structure.cycles()]
    assert not found, f"import circles: {found}"


def test_no_private_name_crosses_a_package():
    """What another package needs is public where it is defined (``from ..x import _name`` stays inside x)."""
    assert structure.private_names_across_packages() == []
