"""Engine ``tgi``: Hugging Face text-generation-inference, started with ``text-generation-launcher``.

``text-generation-launcher --model-id M --num-shard N [--quantize Q] --max-input-length I
--max-total-tokens T --hostname 127.0.0.1 --port P``; ready when ``GET /health`` answers 200
(TGI downloads and shards the model first: the default startup timeout is 15 minutes). The
endpoint speaks protocol ``tgi`` (``/generate_stream``); TGI has no ignore_eos.
TGI needs a GPU (or Intel/AMD builds); it is not runnable on the CI machine.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..schemas import ConfigError, Endpoint, EngineInfo, EnginePlugin, GridPoint, Serving
from . import process


class TgiEngine(BaseModel):
    """Hugging Face text-generation-inference via ``text-generation-launcher``."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["tgi"] = "tgi"
    model_id: str
    num_shard: int = Field(1, ge=1)
    quantize: str | None = None
    max_input_length: int = 1024
    max_total_tokens: int = 2048
    launcher: str = "text-generation-launcher"
    startup_timeout_s: float = Field(900.0, gt=0)

HOST = process.HOST


def launcher_path(launcher: str) -> Path:
    found = shutil.which(launcher) or (launcher if Path(launcher).is_file() else None)
    if not found:
        raise ConfigError(f"engine.launcher: {launcher} not found",
                          "install text-generation-inference on this host (or run its docker image and use "
                          "engine kind 'external' / protocol 'tgi'), or set engine.launcher to its path")
    return Path(found)


class TgiServer(process.LocalServer):
    kind = "tgi"
    grace_s = 15.0

    def __init__(self, cfg: TgiEngine, log_dir: Path, port: int | None = None) -> None:
        self.cfg = cfg
        self.log_path = Path(log_dir) / "tgi.log"
        if cfg.max_input_length >= cfg.max_total_tokens:
            raise ConfigError(f"engine.max_input_length ({cfg.max_input_length}) must be below max_total_tokens "
                              f"({cfg.max_total_tokens})", "raise max_total_tokens or lower max_input_length")
        self.launcher = launcher_path(cfg.launcher)
        self.port = port or process.free_port(HOST)
        self.argv = self.build_argv()
        self.proc: subprocess.Popen | None = None

    def build_argv(self) -> list[str]:
        c = self.cfg
        argv = [str(self.launcher), "--model-id", c.model_id, "--num-shard", str(c.num_shard)]
        if c.quantize:
            argv += ["--quantize", c.quantize]
        argv += ["--max-input-length", str(c.max_input_length), "--max-total-tokens", str(c.max_total_tokens),
                 "--hostname", HOST, "--port", str(self.port)]
        return argv

    def start(self) -> Endpoint:
        self.proc = process.start_server(self.argv, self.log_path, f"{self.url}/health", self.cfg.startup_timeout_s,
                                         name="text-generation-launcher", interval_s=1.0, grace_s=self.grace_s,
                                         fix="check the model id, GPU count (num_shard) and quantize setting")
        return Endpoint(url=self.url, protocol="tgi", model=self.cfg.model_id, supports_ignore_eos=False,
                        metrics_url=f"{self.url}/metrics")

    def info(self) -> EngineInfo:
        try:
            out = subprocess.run([str(self.launcher), "--version"], capture_output=True, text=True, timeout=20)
            version = (out.stdout or out.stderr).strip().splitlines()[0] if (out.stdout or out.stderr) else "unknown"
        except (OSError, subprocess.TimeoutExpired):
            version = "unknown"
        return EngineInfo(kind=self.kind, url=self.url, model=self.cfg.model_id, binary=str(self.launcher),
                          binary_version=version, argv=self.argv)


class TgiPlugin(EnginePlugin):
    """TGI's launcher on this host; protocol ``tgi``; shards over the instance's GPUs (or hardware.tp)."""

    kind = "tgi"
    config = TgiEngine
    protocols = ("tgi",)
    hardware_kinds = ("cpu", "instance")
    startup_s = 300.0
    metric_prefixes = ("tgi_",)
    server_gauges = {"requests_waiting": ("tgi_queue_size",), "batch_size": ("tgi_batch_current_size",)}
    token_counters = ("tgi_request_generated_tokens_sum",)

    def serving(self, cfg: TgiEngine) -> Serving:
        return Serving(model=cfg.model_id, tp=cfg.num_shard, weight_precision=cfg.quantize)

    def server(self, cfg: TgiEngine, log_dir: Path, **context) -> TgiServer:
        return TgiServer(cfg, log_dir)

    def configure(self, point: GridPoint) -> TgiEngine:
        return TgiEngine(model_id=point.source, quantize=point.quantization,
                         num_shard=point.hardware.tp or point.gpus or 1, **point.settings)


PLUGIN = TgiPlugin()
