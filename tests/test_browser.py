"""The rendered pages in a real browser: interactive figures work with no kernel behind them.

Headless Chromium opens each built page that holds an interactive figure (course.interactive),
moves every slider to its last frame and checks that the picture changed, and that the page
raised no JavaScript error. It needs Debian's `chromium`; .ci/run installs it and sets
REQUIRE_BROWSER=1, so that CI cannot skip these tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import REPO, notebook_sources
from tests.test_book import build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
if CHROMIUM is None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError("REQUIRE_BROWSER=1 but no chromium is installed")
    pytest.skip("no chromium on this machine (apt-get install chromium); CI always runs these",
                allow_module_level=True)

from websocket import create_connection  # noqa: E402  (only needed where a browser is)


class Browser:
    """A minimal Chrome DevTools Protocol client: navigate, evaluate, collect errors."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.process = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={self.profile}", "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = self._port()
        pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(p for p in pages if p.get("type") == "page")
        self.ws = create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0
        self.errors: list[str] = []
        self.call("Runtime.enable")
        self.call("Page.enable")

    def _port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            match = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if match:
                return int(match.group(1))
        raise RuntimeError("chromium did not start")

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.errors.append(details.get("exception", {}).get("description", details.get("text", "")))
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(message["error"])
                return message.get("result", {})

    def open(self, url: str) -> None:
        self.errors.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not load")
            time.sleep(0.1)

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def close(self) -> None:
        self.ws.close()
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


MOVE_SLIDERS = """(() => {
  const report = [];
  document.querySelectorAll('.animation').forEach((animation) => {
    const slider = animation.querySelector('input.anim-slider');
    const image = animation.querySelector('img');
    const first = image.src;
    slider.value = slider.max;
    slider.dispatchEvent(new Event('input'));
    report.push({frames: Number(slider.max) + 1, changed: image.src !== first,
                 isPicture: image.src.startsWith('data:image/png;base64,')});
  });
  return report;
})()"""


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("browser-book"))


@pytest.fixture(scope="module")
def browser():
    client = Browser()
    yield client
    client.close()


def interactive_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if 'class="anim-slider"' in p.read_text(encoding="utf-8"))


def test_pages_load_without_javascript_errors(site, browser):
    for page in [site / "book" / "00_intro.html", *interactive_pages(site)]:
        browser.open(page.as_uri())
        assert browser.errors == [], f"{page.name}: {browser.errors}"


def test_formulas_are_typeset(site, browser):
    """MathJax ships with the site (sphinx-mathjax-offline) and typesets every formula, offline."""
    page = site / "book" / "02_learning_rate.html"
    assert "mathjax/tex-chtml.js" in page.read_text(encoding="utf-8"), "no MathJax script on the page"
    browser.open(page.as_uri())
    deadline = time.monotonic() + 20
    typeset = 0
    while time.monotonic() < deadline and typeset < 20:
        typeset = browser.evaluate("document.querySelectorAll('mjx-container').length")
        time.sleep(0.2)
    assert typeset >= 20, f"only {typeset} formulas typeset"
    raw = browser.evaluate("document.querySelector('article').innerText.includes('\\\\frac')")
    assert not raw, "raw TeX left on the page"


def test_every_notebook_with_an_interactive_figure_renders_one(site):
    expected = {md.relative_to(REPO).with_suffix(".html").as_posix() for md in notebook_sources()
                if "course.interactive" in md.read_text(encoding="utf-8")}
    found = {p.relative_to(site).as_posix() for p in interactive_pages(site)}
    assert found == expected


def test_sliders_change_the_figure_without_a_kernel(site, browser):
    pages = interactive_pages(site)
    for page in pages:
        browser.open(page.as_uri())
        report = browser.evaluate(MOVE_SLIDERS)
        assert report, f"{page.name}: no interactive figure found"
        for figure in report:
            assert figure["frames"] >= 2 and figure["isPicture"] and figure["changed"], (page.name, figure)
        assert browser.errors == [], f"{page.name}: {browser.errors}"
