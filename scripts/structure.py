"""How the house looks: deploybench's import graph and a few size figures, from the source alone.

    .venv/bin/python scripts/structure.py [SRC]      # SRC defaults to src/deploybench

Prints the circles inside each package (strongly connected components of more than one module), the
function-level imports of deploybench's own modules, the modules over 300 lines and the functions over
60 lines. tests/unit/test_import_cycles.py uses the same graph (`import_graph`, `cycles`): one
implementation. Standard library only.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT_PACKAGE = "deploybench"
DEFAULT_SRC = Path(__file__).resolve().parents[1] / "src" / ROOT_PACKAGE


def modules(src: Path = DEFAULT_SRC) -> dict[str, Path]:
    """Every module under src by dotted name; a package is its `__init__` (named as the package)."""
    found = {}
    for path in sorted(src.rglob("*.py")):
        parts = [ROOT_PACKAGE, *path.relative_to(src).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _is_package(name: str, mods: dict[str, Path]) -> bool:
    return mods[name].name == "__init__.py"


def _imports(tree: ast.AST):
    """(node, inside_a_function) for every import statement in the tree."""
    def walk(node, in_def):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, in_def
            yield from walk(child, in_def or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))
    yield from walk(tree, False)


def _targets(node, name: str, mods: dict[str, Path]) -> list[str]:
    """The deploybench modules one import statement in module `name` points at."""
    found = []
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.split(".")[0] == ROOT_PACKAGE:
                found.append(alias.name)
        return [_known(t, mods) for t in found if _known(t, mods)]
    if node.level:
        package = name if _is_package(name, mods) else name.rpartition(".")[0]
        for _ in range(node.level - 1):
            package = package.rpartition(".")[0]
        base = f"{package}.{node.module}" if node.module else package
    else:
        base = node.module or ""
        if base.split(".")[0] != ROOT_PACKAGE:
            return []
    for alias in node.names:
        sub = f"{base}.{alias.name}"
        found.append(sub if sub in mods else base)  # `from . import x`: the submodule x where x is one
    return [k for k in (_known(t, mods) for t in found) if k]


def _known(target: str, mods: dict[str, Path]) -> str | None:
    while target and target not in mods:
        target = target.rpartition(".")[0]
    return target or None


def import_graph(src: Path = DEFAULT_SRC, mods: dict[str, Path] | None = None) -> dict[str, set[str]]:
    """module -> the deploybench modules it imports (module-level and function-level alike)."""
    mods = mods or modules(src)
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        for node, _ in _imports(ast.parse(path.read_text(), str(path))):
            graph[name].update(t for t in _targets(node, name, mods) if t != name)
    return graph


def function_level_imports(src: Path = DEFAULT_SRC) -> list[tuple[str, int, str]]:
    """(module, line, statement) for each import of deploybench's own modules inside a def/async def."""
    mods = modules(src)
    found = []
    for name, path in mods.items():
        for node, in_def in _imports(ast.parse(path.read_text(), str(path))):
            if in_def and _targets(node, name, mods):
                found.append((name, node.lineno, ast.unparse(node)))
    return found


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """Tarjan's strongly connected components (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    found.append(component)
    return found


def cycles(src: Path = DEFAULT_SRC) -> list[set[str]]:
    """Every circle in the whole tree: strongly connected components of more than one module."""
    return [c for c in strongly_connected(import_graph(src)) if len(c) > 1]


def private_names_across_packages(src: Path = DEFAULT_SRC) -> list[tuple[str, int, str]]:
    """(module, line, statement) for each import of a private name (``_x``, or a module ``_x`` inside a package)
    from another top-level package. deploybench's own top-level modules (``_clock``, ``_version``) are shared
    by every layer and do not count."""
    mods = modules(src)
    found = []
    for name, path in mods.items():
        for node, _ in _imports(ast.parse(path.read_text(), str(path))):
            for target in _targets(node, name, mods):
                if package_of(target) == package_of(name) or target.count(".") < 1:
                    continue
                inner = target.split(".")[2:]  # below the top-level package
                names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
                if any(seg.startswith("_") for seg in inner) or any(n.startswith("_") and not n.endswith("__") and not target.endswith(f".{n}")
                                                                    for n in names):
                    found.append((name, node.lineno, ast.unparse(node)))
                    break
    return found


def package_of(module: str) -> str:
    """The top-level package (or module) a module belongs to: deploybench.report.html -> report."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def cycles_inside_packages(src: Path = DEFAULT_SRC) -> dict[str, list[set[str]]]:
    """Per top-level package, the circles among its own modules (imports to other packages left out)."""
    graph = import_graph(src)
    by_package: dict[str, list[set[str]]] = defaultdict(list)
    for package in sorted({package_of(m) for m in graph}):
        inner = {m: {t for t in ts if package_of(t) == package} for m, ts in graph.items()
                 if package_of(m) == package}
        by_package[package] = [c for c in strongly_connected(inner) if len(c) > 1]
    return dict(by_package)


def long_modules(src: Path = DEFAULT_SRC, limit: int = 300) -> list[tuple[str, int]]:
    mods = modules(src)
    lengths = [(name, len(path.read_text().splitlines())) for name, path in mods.items()]
    return sorted(((n, k) for n, k in lengths if k > limit), key=lambda item: -item[1])


def long_functions(src: Path = DEFAULT_SRC, limit: int = 60) -> list[tuple[str, int]]:
    found = []
    for name, path in modules(src).items():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append((f"{name}:{node.name}", length))
    return sorted(found, key=lambda item: -item[1])


def main(argv: list[str]) -> int:
    src = Path(argv[1]) if len(argv) > 1 else DEFAULT_SRC
    inner = cycles_inside_packages(src)
    print("circles inside packages (SCCs of more than one module):")
    for package, found in inner.items():
        if found:
            print(f"  {package}: {len(found)}")
            for component in found:
                print(f"    {len(component)}: {', '.join(sorted(component))}")
    print(f"  total: {sum(len(f) for f in inner.values())}")
    whole = cycles(src)
    sizes = f" (of {', '.join(str(len(c)) for c in whole)} modules)" if whole else ""
    print(f"circles in the whole tree: {len(whole)}{sizes}")
    lazy = function_level_imports(src)
    print(f"function-level imports of deploybench's own modules: {len(lazy)}")
    per_package: dict[str, int] = defaultdict(int)
    for module, _, _ in lazy:
        per_package[package_of(module)] += 1
    print("  " + ", ".join(f"{p}={k}" for p, k in sorted(per_package.items())))
    private = private_names_across_packages(src)
    print(f"private names imported across packages: {len(private)}")
    for module, line, statement in private:
        print(f"  {module}:{line}: {statement}")
    big = long_modules(src)
    print(f"modules over 300 lines: {len(big)}")
    for name, length in big:
        print(f"  {length:5d}  {name}")
    funcs = long_functions(src)
    print(f"functions over 60 lines: {len(funcs)}")
    for name, length in funcs:
        print(f"  {length:5d}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
