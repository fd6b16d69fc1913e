"""Engine ``external``: an OpenAI-compatible server someone else runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from . import process
from ..schemas import ConfigError, Endpoint, EngineInfo, EnginePlugin, ProtocolKind, Serving


class ExternalEngine(BaseModel):
    """An already running OpenAI-compatible server; deploybench neither starts nor stops it."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["external"] = "external"
    url: str
    model: str = Field("", description="model name sent in requests (empty: ask /v1/models)")
    api_key_env: str | None = Field(None, description="name of the environment variable holding the API key")

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        v = v.rstrip("/")
        # the OpenAI SDK's base URL (".../v1") and the server root name the same server
        return v[:-3] if v.endswith("/v1") else v


class ExternalServer(process.ContextServer):
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


class ExternalPlugin(EnginePlugin):
    """Someone else's server: any protocol, nothing to start, not part of a study grid."""

    kind = "external"
    config = ExternalEngine
    protocols = get_args(ProtocolKind)  # every protocol deploybench speaks
    hardware_kinds = ()
    startup_s = 0.5
    prunable = False  # someone else's server: its hardware and model are unknown to the predictor
    shortcut = {"endpoint": "url", "model": "model", "api_key_env": "api_key_env"}
    shortcut_key = "endpoint"

    def serving(self, cfg: ExternalEngine) -> Serving:
        return Serving(model=cfg.model or cfg.url)  # the name it serves, else where it is

    def server(self, cfg: ExternalEngine, log_dir: Path, **context) -> ExternalServer:
        return ExternalServer(cfg, log_dir)


PLUGIN = ExternalPlugin()
