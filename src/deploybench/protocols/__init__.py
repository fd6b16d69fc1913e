"""Wire protocols: turn a prompt into a streamed request and raw timestamps."""

from __future__ import annotations

from functools import partial

import aiohttp

from ..schemas import ConfigError, Endpoint
from .base import Draft, GenParams, Prompt
from .openai import OpenAIClient
from .sagemaker import SageMakerClient
from .sse import new_session, send_trace
from .tgi import TgiClient

__all__ = ["CLIENTS", "Draft", "GenParams", "OpenAIClient", "Prompt", "create", "new_session", "send_trace"]

CLIENTS = {
    "openai-chat": partial(OpenAIClient, chat=True),
    "openai-completions": partial(OpenAIClient, chat=False),
    "tgi": TgiClient,
    "sagemaker-tgi": SageMakerClient,
}
"""The one registry of protocols: kind -> client class (called with the endpoint and the session).
``schemas.ProtocolKind`` names the same kinds for validation (tests/unit/test_protocols_registry.py)."""


def create(endpoint: Endpoint, session: aiohttp.ClientSession):
    """Client for ``endpoint.protocol``."""
    client = CLIENTS.get(endpoint.protocol)
    if client is None:
        raise ConfigError(f"protocol: '{endpoint.protocol}' is not supported",
                          f"use {', '.join(list(CLIENTS)[:-1])} or {list(CLIENTS)[-1]}")
    return client(endpoint, session)
