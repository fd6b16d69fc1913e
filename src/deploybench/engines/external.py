"""Engine ``external``: an OpenAI-compatible server someone else runs."""

from __future__ import annotations

import os
from pathlib import Path

from ..schemas import ConfigError, Endpoint, EngineInfo, ExternalEngine


class ExternalServer:
    kind = "external"

    def __init__(self, cfg: ExternalEngine, log_dir: Path | None = None) -> None:
        self.cfg = cfg
        self.headers: dict[str, str] = {}
        if cfg.api_key_env:
            key = os.environ.get(cfg.api_key_env)
            if not key:
                raise ConfigError(f"engine.api_key_env: environment variable {cfg.api_key_env} is not set",
                                  f"export {cfg.api_key_env}=<your key>")
            self.headers["Authorization"] = f"Bearer {key}"

    def start(self) -> Endpoint:
        return Endpoint(url=self.cfg.url, protocol="openai-chat", model=self.cfg.model, headers=self.headers)

    def stop(self) -> None:  # not ours to stop
        return None

    def info(self) -> EngineInfo:
        return EngineInfo(kind=self.kind, url=self.cfg.url, model=self.cfg.model)

    def __enter__(self) -> Endpoint:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
