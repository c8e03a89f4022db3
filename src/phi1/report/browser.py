"""Open a report in headless Chromium over the DevTools protocol: console errors, uncaught
exceptions, network requests, the plots' rendered sizes and a full-page screenshot.

The tests use it to prove that ``report.html`` renders (``check_report``); it needs a
Chromium binary (Debian's ``chromium``), nothing else: the DevTools messages go over aiohttp's
websocket client. Chromium runs with a throwaway profile, no sandbox (it refuses to start
as root otherwise: run it only on reports you wrote), no GPU and no background networking.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phi1.errors import Phi1Error

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)
# Reports the layout of every plot image: its decoded size and its box on the page.
PLOTS_JS = """JSON.stringify(Array.from(document.querySelectorAll('img.plot')).map(img => {
  const r = img.getBoundingClientRect();
  return {alt: img.alt, complete: img.complete, natural: [img.naturalWidth, img.naturalHeight],
          box: [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]};
}))"""


def find_chromium() -> str | None:
    """The Chromium binary on PATH (``$PHI1_CHROMIUM`` first), or None."""
    env = os.environ.get("PHI1_CHROMIUM")
    if env:
        return env if shutil.which(env) else None
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


@dataclass
class Rendered:
    """What the browser saw."""

    console_errors: list[str] = field(default_factory=list)
    """console.error/assert calls, uncaught exceptions and error-level log entries."""
    requests: list[str] = field(default_factory=list)
    """URLs the page asked for beyond itself (a self-contained page asks for none)."""
    plots: list[dict[str, Any]] = field(default_factory=list)
    """Each ``img.plot``: alt text, loaded, natural size, box on the page (x, y, w, h)."""
    screenshot: bytes = b""
    """The full page as PNG."""
    page_size: tuple[int, int] = (0, 0)


def check_report(
    html_path: str | os.PathLike, *, width: int = 1200, timeout: float = 60.0
) -> Rendered:
    """Load ``html_path`` in headless Chromium and collect what it rendered."""
    binary = find_chromium()
    if binary is None:
        raise Phi1Error("no Chromium found (apt-get install chromium, or set $PHI1_CHROMIUM)")
    path = Path(html_path).resolve()
    if not path.exists():
        raise Phi1Error(f"{path}: no such file")
    with tempfile.TemporaryDirectory(prefix="phi1-chromium-") as profile:
        proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
             "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            port = _devtools_port(Path(profile), proc, timeout)
            return asyncio.run(
                asyncio.wait_for(_render(port, path.as_uri(), width), timeout=timeout)
            )
        except asyncio.TimeoutError:
            raise Phi1Error(f"Chromium did not finish rendering {path} in {timeout:g} s") from None
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _devtools_port(profile: Path, proc: subprocess.Popen, timeout: float) -> int:
    """Chromium writes its DevTools port into the profile once it listens."""
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Phi1Error(f"Chromium exited with status {proc.returncode} before listening")
        if marker.exists():
            lines = marker.read_text().split()
            if lines and lines[0].isdigit():
                return int(lines[0])
        time.sleep(0.05)
    raise Phi1Error(f"Chromium did not open its DevTools port within {timeout:g} s")


class _Session:
    """One DevTools websocket: numbered commands, events kept in order."""

    def __init__(self, ws: Any):
        self.ws, self.next_id, self.events = ws, 0, []
        self.pending: dict[int, asyncio.Future] = {}
        self.waiters: dict[str, asyncio.Future] = {}
        self.reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)
                waiter = self.waiters.pop(data["method"], None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(data)

    async def send(self, method: str, **params: Any) -> dict:
        self.next_id += 1
        future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = future
        await self.ws.send_str(json.dumps({"id": self.next_id, "method": method, "params": params}))
        reply = await future
        if "error" in reply:
            raise Phi1Error(f"DevTools {method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def expect(self, method: str) -> asyncio.Future:
        future = asyncio.get_running_loop().create_future()
        self.waiters[method] = future
        return future


async def _render(port: int, url: str, width: int) -> Rendered:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as r:
            targets = await r.json(content_type=None)
        page = next(t for t in targets if t.get("type") == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            s = _Session(ws)
            for domain in ("Page", "Runtime", "Log", "Network"):
                await s.send(f"{domain}.enable")
            await s.send("Emulation.setDeviceMetricsOverride", width=width, height=900,
                         deviceScaleFactor=1, mobile=False)  # fmt: skip
            loaded = s.expect("Page.loadEventFired")
            await s.send("Page.navigate", url=url)
            await loaded
            result = await s.send("Runtime.evaluate", expression=PLOTS_JS, returnByValue=True)
            plots = json.loads(result["result"]["value"])
            metrics = await s.send("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            w, h = int(size["width"]), int(size["height"])
            clip = {"x": 0, "y": 0, "width": w, "height": h, "scale": 1}
            shot = await s.send(
                "Page.captureScreenshot", format="png", captureBeyondViewport=True, clip=clip
            )
            s.reader.cancel()
    rendered = Rendered(plots=plots, screenshot=base64.b64decode(shot["data"]), page_size=(w, h))
    for event in s.events:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            rendered.console_errors.append(f"console.{params['type']}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            text = (details.get("exception") or {}).get("description") or details.get("text")
            rendered.console_errors.append(f"exception: {text}")
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            entry = params["entry"]
            rendered.console_errors.append(f"log: {entry.get('text')} {entry.get('url', '')}")
        elif method == "Network.requestWillBeSent":
            req_url = params["request"]["url"]
            if req_url != url and not req_url.startswith("data:"):
                rendered.requests.append(req_url)
    return rendered
