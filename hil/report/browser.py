"""Open a report in real headless Chromium and say what a reader would see wrong.

    result = check_page("reports/nightly/report.html")
    assert not result.problems(), result.problems()

Chromium (Debian's `chromium`, or $HIL_CHROMIUM) is driven through the DevTools protocol over a
pipe (--remote-debugging-pipe: JSON messages ending in NUL on file descriptors 3 and 4), so nothing
beyond the browser is needed: no port, no websocket client, no driver. It runs with a fresh
profile and with the flags that keep it off the network (no background requests, no component
updates). What comes back: console errors and warnings, uncaught exceptions, every URL the page
requested, every image's decoded size and alt text, and a full-page screenshot (PNG).
"""

from __future__ import annotations

import base64
import io
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hil.errors import HilError, bounded

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
)
MAX_MESSAGE = 256 * 2**20  # bytes of one DevTools message (a screenshot of a long page is large)
MAX_SCREENSHOT_PX = 16_000  # tallest screenshot taken [CSS px]
_IMAGES = """Promise.all(Array.from(document.images).map(img => img.decode().then(
    () => ({alt: img.alt, width: img.naturalWidth, height: img.naturalHeight}),
    () => ({alt: img.alt, width: 0, height: 0}))))"""


class BrowserError(HilError):
    """Chromium could not be started or did not answer in time."""


def find_chromium() -> str | None:
    """The Chromium executable: $HIL_CHROMIUM, else chromium / chromium-browser on PATH."""
    env = os.environ.get("HIL_CHROMIUM")
    if env:
        return env
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageCheck:
    """What Chromium saw: console messages of level warning or error, uncaught exceptions, failed
    loads, requested URLs (data: URIs excluded), images, the page title, and a PNG screenshot."""

    url: str
    title: str = ""
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    screenshot_png: bytes = b""

    def problems(self) -> list[str]:
        """Everything a reader would see wrong; empty when the page is fine."""
        out = [f"console: {m}" for m in self.console]
        out += [f"request beyond the page: {u}" for u in self.requests if u != self.url]
        for i, img in enumerate(self.images):
            if not img["width"] or not img["height"]:
                out.append(f"image {i} ({img['alt'][:60]!r}) did not decode")
            if not img["alt"].strip():
                out.append(f"image {i} has no alt text")
        spread = pixel_spread(self.screenshot_png) if self.screenshot_png else 0.0
        if spread < 1.0:
            out.append(f"screenshot is blank (pixel standard deviation {spread:.3g})")
        return out


def pixel_spread(png: bytes) -> float:
    """Standard deviation of the screenshot's grey levels (0..255); about 0 for a blank page."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        return float(np.asarray(im.convert("L"), dtype=float).std())


class _Pipe:
    """A DevTools session over Chromium's pipe: send commands, collect events, wait for replies."""

    def __init__(self, proc: subprocess.Popen, to_browser: int, from_browser: int, deadline: float):
        self.proc, self.w, self.r, self.deadline = proc, to_browser, from_browser, deadline
        self.buf = b""
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        try:
            os.write(self.w, json.dumps(msg).encode() + b"\0")
        except OSError as e:
            code = self.proc.poll()
            raise BrowserError(
                f"chromium closed its pipe ({e.strerror}; exit code {code})"
            ) from None
        while True:
            reply = self._read()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise BrowserError(f"chromium: {method} failed: {bounded(str(reply['error']))}")
                return reply.get("result", {})
            if "method" in reply:
                self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        for i, e in enumerate(self.events):
            if e["method"] == method:
                return self.events.pop(i)
        while True:
            msg = self._read()
            if msg.get("method") == method:
                return msg
            if "method" in msg:
                self.events.append(msg)

    def _read(self) -> dict:
        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise BrowserError("chromium did not answer in time")
            ready, _, _ = select.select([self.r], [], [], left)
            if not ready:
                continue
            chunk = os.read(self.r, 1 << 20)
            if not chunk:
                raise BrowserError(f"chromium exited (code {self.proc.poll()})")
            self.buf += chunk
            if len(self.buf) > MAX_MESSAGE:
                raise BrowserError(f"chromium sent a message over {MAX_MESSAGE} bytes")
        raw, self.buf = self.buf.split(b"\0", 1)
        return json.loads(raw)


def check_page(
    path: str | Path, chromium: str | None = None, timeout_s: float = 60.0, width: int = 1200
) -> PageCheck:
    """Load the HTML file at `path` in headless Chromium; see PageCheck. BrowserError when
    Chromium is missing, fails to start, or does not finish within `timeout_s` [s]."""
    exe = chromium or find_chromium()
    if exe is None:
        raise BrowserError("chromium not found; allowed: chromium on PATH or $HIL_CHROMIUM")
    url = Path(path).resolve().as_uri()
    with tempfile.TemporaryDirectory(prefix="hil-chromium-") as profile:
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()

        def wire() -> None:  # in the child: the pipe ends become fds 3 (in) and 4 (out)
            a, b = os.dup(to_r), os.dup(from_w)  # copies first: either end may sit on 3 or 4
            os.dup2(a, 3)
            os.dup2(b, 4)
            # a copy that landed on 3 or 4 itself was left as it is by dup2: close-on-exec
            os.set_inheritable(3, True)
            os.set_inheritable(4, True)

        log = Path(profile) / "stderr.txt"
        with open(log, "wb") as err:
            try:
                proc = subprocess.Popen(
                    [exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    preexec_fn=wire,  # noqa: PLW1509 (only dup2 before exec)
                    close_fds=False,  # the fds Python opens are not inheritable (PEP 446)
                )
            except OSError as e:
                raise BrowserError(f"cannot start {bounded(exe)} ({e.strerror})") from None
        os.close(to_r)
        os.close(from_w)
        pipe = _Pipe(proc, to_w, from_r, time.monotonic() + timeout_s)
        try:
            return _visit(pipe, url, width)
        except BrowserError as e:
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            raise BrowserError(f"{e}; chromium stderr ends: {bounded(tail, 600)}") from None
        finally:
            try:
                pipe.call("Browser.close")
            except (BrowserError, OSError):
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            os.close(to_w)
            os.close(from_r)


def _visit(pipe: _Pipe, url: str, width: int) -> PageCheck:
    target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    s = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        pipe.call(f"{domain}.enable", session=s)
    pipe.call(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        session=s,
    )
    pipe.events.clear()  # about:blank's own events
    pipe.call("Page.navigate", {"url": url}, session=s)
    pipe.wait_event("Page.loadEventFired")
    images = pipe.call(
        "Runtime.evaluate",
        {"expression": _IMAGES, "awaitPromise": True, "returnByValue": True},
        session=s,
    )["result"]["value"]
    title = pipe.call(
        "Runtime.evaluate", {"expression": "document.title", "returnByValue": True}, session=s
    )["result"]["value"]
    size = pipe.call("Page.getLayoutMetrics", session=s)["cssContentSize"]
    height = min(float(size["height"]), MAX_SCREENSHOT_PX)
    shot = pipe.call(
        "Page.captureScreenshot",
        {
            "format": "png",
            "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": float(size["width"]), "height": height, "scale": 1},
        },
        session=s,
    )
    result = PageCheck(url, title, images=images, screenshot_png=base64.b64decode(shot["data"]))
    for e in pipe.events:
        method, p = e["method"], e.get("params", {})
        if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
            text = " ".join(
                str(a.get("value", a.get("description", ""))) for a in p.get("args", [])
            )
            result.console.append(f"{p['type']}: {bounded(text)}")
        elif method == "Runtime.exceptionThrown":
            result.console.append(f"exception: {bounded(str(p.get('exceptionDetails', {})))}")
        elif method == "Log.entryAdded" and p["entry"]["level"] in ("error", "warning"):
            entry = p["entry"]
            result.console.append(f"{entry['level']}: {bounded(entry.get('text', ''))}")
        elif method == "Network.requestWillBeSent":
            u = p["request"]["url"]
            if not u.startswith("data:"):
                result.requests.append(bounded(u))
        elif method == "Network.loadingFailed":
            result.console.append(f"load failed: {bounded(p.get('errorText', ''))}")
    return result
