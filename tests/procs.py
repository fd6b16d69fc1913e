"""Helpers to prove that no server process is left behind."""

from __future__ import annotations

from pathlib import Path


def processes_with(*needles: str) -> list[int]:
    """PIDs whose command line contains every needle."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if all(n in cmd for n in needles):
            found.append(int(p.name))
    return found


def llama_servers_on(port: int) -> list[int]:
    return processes_with("llama-server", "--port", f" {port} ")
