"""Wire protocols: turn a prompt into a streamed request and raw timestamps."""

from __future__ import annotations

import aiohttp

from ..schemas import ConfigError, Endpoint
from .base import Draft, GenParams, Prompt
from .openai import OpenAIClient
from .sse import new_session, send_trace

__all__ = ["Draft", "GenParams", "OpenAIClient", "Prompt", "create", "new_session", "send_trace"]


def create(endpoint: Endpoint, session: aiohttp.ClientSession):
    """Client for ``endpoint.protocol``."""
    if endpoint.protocol == "openai-chat":
        return OpenAIClient(endpoint, session, chat=True)
    if endpoint.protocol == "openai-completions":
        return OpenAIClient(endpoint, session, chat=False)
    if endpoint.protocol == "tgi":
        from .tgi import TgiClient

        return TgiClient(endpoint, session)
    if endpoint.protocol == "sagemaker-tgi":
        from .sagemaker import SageMakerClient

        return SageMakerClient(endpoint, session)
    raise ConfigError(f"protocol: '{endpoint.protocol}' is not supported",
                      "use openai-chat, openai-completions, tgi or sagemaker-tgi")
