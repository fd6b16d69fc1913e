"""Protocol ``sagemaker-tgi``: the Hugging Face LLM (TGI) container on a SageMaker endpoint.

Data plane: ``InvokeEndpointWithResponseStream`` through botocore's ``sagemaker-runtime``
client. The response is an AWS event stream of ``PayloadPart`` events whose bytes carry TGI's
own streamed lines (``data:{"token": ...}``), split wherever the service likes, so lines are
reassembled before parsing.

Timing contract (as every protocol, docs/metrics.md): ``sent_ns`` is taken by botocore's
``before-send`` hook, after the request is signed and just before it is written (signing and
serialising are client work, not server latency); ``done_ns`` is the arrival of TGI's final event.

botocore is blocking, so each request runs in a worker thread of a pool owned by the client (not
the loop's default executor, which has only ``cpu_count + 4`` threads and would cap the load
level). The thread timestamps every event on arrival (``time.monotonic_ns()``) and hands it to
the event loop, which never blocks. A cancelled request (timeout) tells its thread to close the
stream, so no thread outlives the run by more than one event.

``Endpoint.url`` is ``<runtime base URL>/endpoints/<endpoint name>``, e.g.
``https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/deploybench-x`` or
``http://127.0.0.1:8081/endpoints/local`` (the local adapter). The region is read from an AWS
host name, else from ``AWS_REGION``/``AWS_DEFAULT_REGION``, else us-east-1. Credentials come
from botocore's usual chain (environment, profile, instance role); deploybench never stores them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..schemas import ConfigError, Endpoint
from .base import Draft, GenParams, Prompt, loads_event
from .eventstream import LineBuffer
from .tgi import apply_event, finish_counts, request_body

_AWS_HOST = re.compile(r"^https://runtime\.sagemaker\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
MAX_WORKERS = 256


def split_url(url: str) -> tuple[str, str]:
    """``<base>/endpoints/<name>`` -> (base, name)."""
    base, sep, name = url.rstrip("/").rpartition("/endpoints/")
    if not sep or not base or not name or "/" in name:
        raise ConfigError(f"endpoint url '{url}' does not name a SageMaker endpoint",
                          "use <runtime URL>/endpoints/<endpoint name>")
    return base, name


def runtime_url(region: str) -> str:
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"https://runtime.sagemaker.{region}{suffix}"


def region_of(base: str) -> str:
    m = _AWS_HOST.match(base)
    if m:
        return m.group(1)
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def make_runtime_client(base: str, region: str, pool: int):
    try:
        import botocore.session  # noqa: PLC0415 (optional dependency)
        from botocore.config import Config  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError("protocol sagemaker-tgi needs botocore", "pip install 'deploybench[aws]'") from exc
    cfg = Config(retries={"max_attempts": 1, "mode": "standard"}, read_timeout=300, connect_timeout=10,
                 max_pool_connections=pool, tcp_keepalive=True)
    endpoint_url = None if _AWS_HOST.match(base) else base
    return botocore.session.get_session().create_client(
        "sagemaker-runtime", region_name=region, endpoint_url=endpoint_url, config=cfg)


class SageMakerClient:
    """``send()`` = one streamed invocation; the aiohttp session is unused (botocore does HTTP)."""

    def __init__(self, endpoint: Endpoint, session: Any = None, *, client: Any = None,
                 max_workers: int = MAX_WORKERS) -> None:
        self.endpoint = endpoint
        self.base, self.endpoint_name = split_url(endpoint.url)
        self.region = region_of(self.base)
        self.client = client or make_runtime_client(self.base, self.region, max_workers)
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="sagemaker-stream")
        self._local = threading.local()  # the worker thread's request: its ``put``
        events = getattr(getattr(self.client, "meta", None), "events", None)
        if events is not None:
            events.register("before-send.sagemaker-runtime.InvokeEndpointWithResponseStream", self._before_send)

    def _before_send(self, **_kw) -> None:
        """botocore hook: the signed request is about to be written (returns None: botocore sends it)."""
        put = getattr(self._local, "put", None)
        if put is not None:
            put(("sent", time.monotonic_ns(), None))

    def body(self, prompt: Prompt, params: GenParams) -> dict:
        body = request_body(prompt, params, stream=True)
        body["stream"] = True  # the HF LLM container's switch for streaming on SageMaker
        return body

    async def send(self, prompt: Prompt, params: GenParams, draft: Draft) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()
        body = json.dumps(self.body(prompt, params)).encode()

        def put(item: tuple) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # loop closed: nobody is listening any more
                cancel.set()

        self._pool.submit(self._invoke, body, put, cancel)
        try:
            await self._consume(queue, draft)
        finally:
            cancel.set()
        finish_counts(draft)

    async def _consume(self, queue: asyncio.Queue, draft: Draft) -> None:
        lines = LineBuffer()
        final = False
        while True:
            kind, ts, value = await queue.get()
            if kind == "sent":
                draft.sent_ns = ts
            elif kind == "status":
                draft.http_status = value
            elif kind == "part":
                for line in lines.feed(value):
                    if not final and self._line(line, ts, draft):
                        final, draft.done_ns = True, ts
                if final:  # the answer is complete: whatever the stream does after is not waited for
                    return
            elif kind == "error":
                draft.http_status = draft.http_status or value[0]
                draft.error = value[1]
                return
            elif kind == "end":
                for line in lines.flush():
                    if not final and self._line(line, ts, draft):
                        final, draft.done_ns = True, ts
                if not final and draft.error is None:
                    draft.error = "stream ended before the final event (no details)"
                return
            if draft.error:
                return

    @staticmethod
    def _line(line: str, ts: int, draft: Draft) -> bool:
        line = line.strip()
        if not line or line.startswith(":"):
            return False
        if line.startswith("data:"):
            line = line[5:].strip()
        try:
            event = loads_event(line)
        except json.JSONDecodeError:
            draft.error = f"malformed event: {line[:80]!r}"
            return True
        return apply_event(event, ts, draft)

    def _invoke(self, body: bytes, put, cancel: threading.Event) -> None:
        """Worker thread: blocking botocore call; every event is stamped here, on arrival."""
        from botocore.exceptions import BotoCoreError, ClientError, EventStreamError  # noqa: PLC0415

        stream = None
        self._local.put = put
        try:
            put(("sent", time.monotonic_ns(), None))  # replaced by the before-send hook's stamp
            resp = self.client.invoke_endpoint_with_response_stream(
                EndpointName=self.endpoint_name, Body=body, ContentType="application/json",
                Accept="application/json")
            put(("status", time.monotonic_ns(), resp.get("ResponseMetadata", {}).get("HTTPStatusCode", 200)))
            stream = resp["Body"]
            for event in stream:
                ts = time.monotonic_ns()
                if cancel.is_set():
                    break
                part = event.get("PayloadPart")
                if part is not None:
                    put(("part", ts, part.get("Bytes", b"")))
                elif "ModelStreamError" in event or "InternalStreamFailure" in event:
                    name, err = next(iter(event.items()))
                    put(("error", ts, (None, f"{name}: {err.get('Message', err)}"[:200])))
                    return
            put(("end", time.monotonic_ns(), None))
        except EventStreamError as exc:  # modeled exception inside the stream
            put(("error", time.monotonic_ns(), (None, f"{exc.response.get('Error', {}).get('Code', 'stream error')}: "
                                                f"{exc.response.get('Error', {}).get('Message', exc)}"[:200])))
        except ClientError as exc:
            err = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            put(("error", time.monotonic_ns(), (status, f"{err.get('Code', 'ClientError')}: {err.get('Message', '')}"[:200])))
        except BotoCoreError as exc:
            put(("error", time.monotonic_ns(), (None, f"{type(exc).__name__}: {exc}"[:200])))
        except Exception as exc:  # never let a thread die silently: the loop would wait forever
            put(("error", time.monotonic_ns(), (None, f"{type(exc).__name__}: {exc}"[:200])))
        finally:
            self._local.put = None
            if stream is not None:
                try:
                    stream.close()
                except Exception:  # noqa: BLE001 (best effort)
                    pass

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
