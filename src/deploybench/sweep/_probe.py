"""Check that an endpoint is reachable and speaks the OpenAI API before loading it."""

from __future__ import annotations

import aiohttp

from ..schemas import Endpoint, EndpointError


CLOSES_AFTER_STREAM = ("llama.cpp",)
"""``Server`` headers of servers that close the connection after every streamed answer while their
headers promise keep-alive (llama-server, seen with curl: "Connection 0 seems to be dead" on reuse;
non-streamed answers keep it). A request written onto such a connection as it closes fails with a
clean close, which cannot be told from a server that read it, so it would be lost, not resent."""


async def probe_openai(endpoint: Endpoint, session: aiohttp.ClientSession) -> Endpoint:
    """GET /v1/models; fills in the model name when none was given, and asks for a connection per
    request from a server that closes them after each streamed answer (:data:`CLOSES_AFTER_STREAM`)."""
    url = endpoint.url + "/v1/models"
    try:
        async with session.get(url, headers=endpoint.headers, timeout=aiohttp.ClientTimeout(total=10)) as resp:
            status, server = resp.status, resp.headers.get("Server", "")
            try:
                body = await resp.json(content_type=None)
            except ValueError:
                body = None
    except aiohttp.ClientConnectorError:
        raise EndpointError(f"endpoint {endpoint.url} is unreachable (connection refused)",
                            "check that the server is running and the host/port in --endpoint") from None
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise EndpointError(f"endpoint {endpoint.url} did not answer ({type(exc).__name__})",
                            "check the URL and that the server is up") from None
    if status in (401, 403):
        raise EndpointError(f"endpoint {endpoint.url} refused the request (HTTP {status})",
                            "set the API key (engine.api_key_env)")
    if status != 200 or not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise EndpointError(f"endpoint {endpoint.url} is not OpenAI-compatible (GET /v1/models gave HTTP {status})",
                            "point --endpoint at an OpenAI-compatible API: its root or its /v1 base URL")
    if not endpoint.model:
        ids = [m.get("id") for m in body["data"] if isinstance(m, dict) and m.get("id")]
        if not ids:
            raise EndpointError(f"endpoint {endpoint.url} lists no models", "pass --model NAME")
        endpoint = endpoint.model_copy(update={"model": ids[0]})  # keeps headers (excluded only from dumps)
    if server.startswith(CLOSES_AFTER_STREAM) and "connection" not in {k.lower() for k in endpoint.headers}:
        endpoint = endpoint.model_copy(update={"headers": {**endpoint.headers, "Connection": "close"}})
    return endpoint
