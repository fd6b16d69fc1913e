"""Engine ``echo``: deploybench's scripted OpenAI-compatible server, started as a local process.

The server streams ``max_tokens`` tokens per request, the first ``ttft_ms`` after the request
arrived and then one every ``itl_ms`` (``python -m deploybench.testing.scripted``); ``slots``
bounds how many requests it serves at once. Everything deploybench needs to know about the engine
is in this one module; the entry point in pyproject.toml registers it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from deploybench.engines import process
from deploybench.schemas import ConfigError, Endpoint, EngineInfo, EnginePlugin, GridPoint, Serving

HOST = "127.0.0.1"


class EchoEngine(BaseModel):
    """Config of one echo server (``engine:`` in a deployment, ``engine.settings`` in a study)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["echo"] = "echo"
    model: str = Field("echo", description="model name the server reports and requests carry")
    ttft_ms: float = Field(20.0, ge=0, description="time to first token of every request")
    itl_ms: float = Field(2.0, ge=0, description="time between tokens")
    slots: int = Field(0, ge=0, description="requests served at once; the rest queue (0: all)")
    threads: int = Field(1, ge=1, description="CPU threads (checked against the host, not used)")
    gpu_fanout: int = Field(1, ge=1, description="GPUs one replica is split over (its tensor-parallel degree; "
                            "on an instance profile, as a real engine would be)")
    startup_timeout_s: float = Field(30.0, gt=0)


class EchoServer:
    """start() -> Endpoint, stop(), info(): what deploybench's runner calls."""

    kind = "echo"

    def __init__(self, cfg: EchoEngine, log_dir: Path) -> None:
        self.cfg = cfg
        self.log_path = Path(log_dir) / "echo.log"
        self.port = process.free_port(HOST)
        self.argv = [sys.executable, "-m", "deploybench.testing.scripted", "--host", HOST, "--port", str(self.port),
                     "--ttft-ms", str(cfg.ttft_ms), "--itl-ms", str(cfg.itl_ms), "--slots", str(cfg.slots),
                     "--spin-ms", "0"]
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Endpoint:
        self.proc = process.start_server(self.argv, self.log_path, f"{self.url}/health", self.cfg.startup_timeout_s,
                                         name="echo server", fix="see the log")
        return Endpoint(url=self.url, protocol="openai-chat", model=self.cfg.model)

    def stop(self) -> None:
        if self.proc is not None:
            process.stop(self.proc)

    def info(self) -> EngineInfo:
        return EngineInfo(kind=self.kind, url=self.url, model=self.cfg.model, binary=sys.executable,
                          binary_version="scripted", argv=self.argv)


class EchoPlugin(EnginePlugin):
    kind = "echo"
    config = EchoEngine
    protocols = ("openai-chat", "openai-completions")  # the first is a study's default
    hardware_kinds = ("cpu", "instance")
    startup_s = 1.0
    quantizations = ("native",)

    def server(self, cfg: EchoEngine, log_dir: Path, **context) -> EchoServer:
        return EchoServer(cfg, log_dir)

    def configure(self, point: GridPoint) -> EchoEngine:
        hw = point.hardware
        if hw.kind == "cpu":
            process.check_cpus(hw.threads, hw.cpu_set, point.where)
            return EchoEngine(model=point.source, threads=hw.threads or 1, **point.settings)
        settings = {"gpu_fanout": hw.tp or point.gpus or 1, **point.settings}  # a setting may split over fewer GPUs
        if point.gpus and settings["gpu_fanout"] > point.gpus:
            raise ConfigError(f"{point.where}: engine.settings.gpu_fanout {settings['gpu_fanout']} exceeds the "
                              f"{point.gpus} GPU(s) of {hw.name}", f"use gpu_fanout <= {point.gpus}")
        return EchoEngine(model=point.source, **settings)

    def serving(self, cfg: EchoEngine) -> Serving:
        """What the predictor reads: the TP degree lives in ``gpu_fanout``, a name only this plugin knows."""
        return Serving(model=cfg.model, tp=cfg.gpu_fanout, threads=cfg.threads, batch_slots=cfg.slots or None)

    def calibration_group(self, cfg: EchoEngine) -> str:
        return "echo-scripted"  # its cells calibrate together, apart from any real engine's


PLUGIN = EchoPlugin()
