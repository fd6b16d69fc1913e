"""Child-process hygiene for engines: own process group, die with us, stop for sure."""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from ..schemas import ConfigError, EngineError
from .needs import rebuild_llama_cpp_without_amx

_PR_SET_PDEATHSIG = 1
_live: dict[int, subprocess.Popen] = {}
_lock = threading.Lock()


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def spawn(argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start ``argv`` in its own process group, output to ``log_path``, killed if we die."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "ab")
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
            env=env,
        )
    finally:
        log.close()
    with _lock:
        _live[proc.pid] = proc
    return proc


def stop(proc: subprocess.Popen, grace_s: float = 5.0) -> int | None:
    """SIGTERM the process group, then SIGKILL after ``grace_s``. Safe to call twice."""
    try:
        if proc.poll() is None:
            _signal_group(proc, signal.SIGTERM)
            try:
                proc.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=grace_s)
        else:  # leader gone; make sure nothing else in its group survives
            _signal_group(proc, signal.SIGKILL)
    finally:
        with _lock:
            _live.pop(proc.pid, None)
    return proc.returncode


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


def stop_all() -> None:
    """Stop every child still alive (atexit and signal paths)."""
    with _lock:
        procs = list(_live.values())
    for proc in procs:
        stop(proc, grace_s=3.0)


atexit.register(stop_all)


class ContextServer:
    """``with server as endpoint:`` for an engine's server object: start() on entry, stop() always on exit."""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


HOST = "127.0.0.1"


class LocalServer(ContextServer):
    """A server process deploybench starts on 127.0.0.1: its URL from ``port``, stop() ends its process group."""

    grace_s = 5.0  # SIGTERM, then SIGKILL after this long
    proc: subprocess.Popen | None = None
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, grace_s=self.grace_s)


def check_cpus(threads: int | None, cpu_set: list[int] | None, where: str) -> None:
    """The one CPU check: ``threads`` and pinned cores must exist on this host (ConfigError naming ``where``)."""
    cores = os.cpu_count() or 1
    if (threads or 1) > cores:
        raise ConfigError(f"{where}.threads: {threads} is more than this host's {cores} CPUs", f"use threads <= {cores}")
    if cpu_set and (max(cpu_set) >= cores or min(cpu_set) < 0):
        bad = max(cpu_set) if max(cpu_set) >= cores else min(cpu_set)
        raise ConfigError(f"{where}.cpu_set: core {bad} does not exist on this host ({cores} CPUs)",
                          f"use cores 0..{cores - 1}")


def free_port(host: str = "127.0.0.1") -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def tail(path: Path, lines: int = 8) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


def wait_until(predicate, timeout_s: float, interval_s: float = 0.1, alive=None) -> bool:
    """Poll ``predicate`` until true or timeout; stop early when ``alive()`` turns false."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        if alive is not None and not alive():
            return False
        time.sleep(interval_s)
    return False


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """True when GET ``url`` answers 200."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def start_server(argv: list[str], log_path: Path, health_url: str, timeout_s: float, *, name: str, fix: str,
                 interval_s: float = 0.1, grace_s: float = 5.0, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Spawn a server and wait until ``health_url`` answers; on failure stop it and raise one line."""
    proc = spawn(argv, log_path, env=env)
    if wait_until(lambda: http_ok(health_url), timeout_s, interval_s, lambda: proc.poll() is None):
        return proc
    code = proc.poll()
    stop(proc, grace_s)
    if code == -signal.SIGILL:
        raise EngineError(f"{name} crashed on an illegal CPU instruction (SIGILL); log {log_path}",
                          rebuild_llama_cpp_without_amx() if "llama" in name else
                          "its binary was built for CPU features this machine does not allow: rebuild it here")
    why = f"exited with code {code}" if code is not None else f"not healthy after {timeout_s:.0f}s"
    last = tail(log_path, 6).replace("\n", " | ")
    raise EngineError(f"{name} {why}; log {log_path}: {last}"[:600], fix)
