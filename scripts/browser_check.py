"""Open an HTML report in headless Chromium, driven over the DevTools protocol, and check it.

    python scripts/browser_check.py runs/study/report/report.html --screenshot shot.png

Prints a JSON verdict: JavaScript errors (uncaught exceptions, console errors, the page's own
``window.onerror`` log), requests that left the file (a report must work offline), and for every
plotly chart whether it drew an SVG with data traces. Exit status 0 only when all is well.

Only the standard library and aiohttp (a deploybench dependency) are used; Chromium comes from
Debian: ``apt-get install -y chromium``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
         "--remote-debugging-port=0", "--remote-allow-origins=*"]

CHART_PROBE = """(() => {
  const divs = [...document.querySelectorAll('.plotly-graph-div')];
  return JSON.stringify({
    ready: document.readyState,
    page_errors: window.__reportErrors || [],
    charts: divs.map(d => ({
      id: d.id,
      svg: d.querySelectorAll('.main-svg').length,
      traces: d.querySelectorAll('.main-svg .trace').length,
      data: (d.data || []).length,
    })),
  });
})()"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with one page, spoken to over the DevTools protocol."""

    def __init__(self, binary: str | None = None, width: int = 1400, height: int = 900) -> None:
        self.binary = binary or find_chromium()
        if not self.binary:
            raise RuntimeError("chromium not found — apt-get install -y chromium")
        self.width, self.height = width, height
        self.errors: list[str] = []
        self.requests: list[str] = []
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._events: dict[str, asyncio.Event] = {}

    async def __aenter__(self) -> "Browser":
        # chromium's helper processes can still be writing the profile as it exits: never fail on cleanup
        self._profile = tempfile.TemporaryDirectory(prefix="deploybench-chromium-", ignore_cleanup_errors=True)
        self._log = open(Path(self._profile.name) / "chromium.log", "wb")
        self._proc = subprocess.Popen([self.binary, *FLAGS, f"--user-data-dir={self._profile.name}",
                                       f"--window-size={self.width},{self.height}", "about:blank"],
                                      stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      start_new_session=True)
        try:
            port = await self._port()
            self._http = aiohttp.ClientSession()
            async with self._http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = await resp.json()
            page = next(t for t in targets if t.get("type") == "page")
            self._ws = await self._http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0)
            self._reader = asyncio.create_task(self._read())
            for domain in ("Page", "Runtime", "Log", "Network"):
                await self.send(f"{domain}.enable")
            await self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                            deviceScaleFactor=1, mobile=False)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc) -> None:
        reader = getattr(self, "_reader", None)
        if reader:
            reader.cancel()
        if getattr(self, "_ws", None) is not None:
            await self._ws.close()
        if getattr(self, "_http", None) is not None:
            await self._http.close()
        self._signal_group(signal.SIGTERM)
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=10)
        self._signal_group(signal.SIGKILL)  # renderers and crashpad too: nothing left writing the profile
        self._log.close()
        self._profile.cleanup()

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self._proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    async def _port(self, timeout: float = 30.0) -> int:
        """Chromium writes the port it chose into DevToolsActivePort in the profile."""
        path = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"chromium exited with {self._proc.returncode}: {self._log_tail()}")
            if path.exists() and path.read_text().strip():
                return int(path.read_text().splitlines()[0])
            await asyncio.sleep(0.1)
        raise RuntimeError(f"chromium did not open its DevTools port in {timeout:.0f}s: {self._log_tail()}")

    def _log_tail(self) -> str:
        self._log.flush()
        text = (Path(self._profile.name) / "chromium.log").read_text(errors="replace")
        return text[-2000:]

    async def send(self, method: str, **params):
        msg_id = next(self._ids)
        fut = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        await self._ws.send_json({"id": msg_id, "method": method, "params": params})
        result = await asyncio.wait_for(fut, 60)
        if "error" in result:
            raise RuntimeError(f"{method}: {result['error']}")
        return result.get("result", {})

    async def _read(self) -> None:
        async for msg in self._ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self._pending:
                self._pending.pop(data["id"]).set_result(data)
            elif "method" in data:
                self._event(data["method"], data.get("params", {}))

    def _event(self, method: str, p: dict) -> None:
        if method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.errors.append("exception: " + (d.get("exception", {}).get("description") or d.get("text", "?")))
        elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            self.errors.append("console.error: " + " ".join(str(a.get("value", a.get("description", "")))
                                                          for a in p.get("args", [])))
        elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            self.errors.append("log: " + p["entry"].get("text", ""))
        elif method == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            if not url.startswith(("file:", "data:", "about:", "blob:")):
                self.requests.append(url)
        self._events.setdefault(method, asyncio.Event()).set()

    async def open(self, url: str, timeout: float = 60.0) -> None:
        loaded = self._events.setdefault("Page.loadEventFired", asyncio.Event())
        loaded.clear()
        await self.send("Page.navigate", url=url)
        await asyncio.wait_for(loaded.wait(), timeout)

    async def evaluate(self, expression: str):
        res = await self.send("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"evaluate failed: {res['exceptionDetails'].get('text')}")
        return res.get("result", {}).get("value")

    async def screenshot(self, path: Path, max_height: int = 16000, full_page: bool = True) -> Path:
        """A PNG of the whole page (up to ``max_height`` CSS pixels tall), or of the viewport."""
        metrics = await self.send("Page.getLayoutMetrics")
        size = metrics.get("cssContentSize") or metrics.get("contentSize")
        height = int(min(max(size["height"], self.height), max_height)) if full_page else self.height
        await self.send("Emulation.setDeviceMetricsOverride", width=self.width, height=height,
                        deviceScaleFactor=1, mobile=False)
        await asyncio.sleep(0.5)  # let plotly react to the resize
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path


async def wait_for_charts(browser: Browser, timeout: float = 30.0) -> dict:
    """Poll until every chart has drawn data traces (or time runs out); the last probe."""
    deadline = time.monotonic() + timeout
    while True:
        probe = json.loads(await browser.evaluate(CHART_PROBE))
        done = probe["ready"] == "complete" and all(c["svg"] and c["traces"] for c in probe["charts"])
        if done or time.monotonic() > deadline:
            return probe
        await asyncio.sleep(0.25)


async def check_report(html: Path, screenshot: Path | None = None, binary: str | None = None) -> dict:
    """Open ``html``; return errors, outside requests and per-chart render status."""
    async with Browser(binary) as browser:
        await browser.open(Path(html).resolve().as_uri())
        probe = await wait_for_charts(browser)
        if screenshot:
            await browser.screenshot(Path(screenshot))
        errors = browser.errors + [f"page: {e}" for e in probe["page_errors"]]
        charts = probe["charts"]
        ok = not errors and not browser.requests and bool(charts) and all(c["svg"] and c["traces"] for c in charts)
        return {"ok": ok, "errors": errors, "outside_requests": browser.requests, "charts": charts,
                "screenshot": str(screenshot) if screenshot else None}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path)
    ap.add_argument("--screenshot", type=Path, default=None)
    ap.add_argument("--chromium", default=os.environ.get("CHROMIUM"))
    args = ap.parse_args(argv)
    verdict = asyncio.run(check_report(args.html, args.screenshot, args.chromium))
    print(json.dumps(verdict, indent=2))
    return 0 if verdict["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
