"""The built site in a real browser, read the way a reader reads it, at 1400 px and at 390 px.

For every page, at both widths, one visit (`test_a_readers_visit`) checks what the reader meets:
the navigation opens, nothing scrolls sideways, every picture says what it shows (alt text) and
its smallest text stays readable, every slider fits the column and moves by keyboard, every
formula fits or scrolls inside itself (solutions opened), the browser
reports no error, and axe-core finds no critical or serious violation in the course's own markup
(the article). Other tests weigh the pages, check the 404 page and that formulas are typeset.

Debian's chromium runs the pages (Playwright's own browser download is never used), served
over HTTP under the same path prefix as on GitHub Pages. .ci/run installs chromium and sets
REQUIRE_BROWSER=1, so that CI cannot skip these tests.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import statistics
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from course.style import DPI, MIN_FONT_PT, MIN_SCREEN_PX
from tests.helpers import REPO, notebook_sources, toc_files
from tests.test_book import build

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
if CHROMIUM is None:
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise RuntimeError("REQUIRE_BROWSER=1 but no chromium is installed")
    pytest.skip("no chromium on this machine (apt-get install chromium); CI always runs these",
                allow_module_level=True)

from axe_playwright_python.sync_playwright import Axe  # noqa: E402  (only where a browser is)
from playwright.sync_api import sync_playwright  # noqa: E402

WIDTHS = {"desktop": 1400, "phone": 390}
PREFIX = "/learning-rates-course/"   # the site's path on GitHub Pages (course.sphinx.site_url)
PAGES = [Path(entry).with_suffix(".html").as_posix() for entry in toc_files(REPO / "_toc.yml")]
HEAVIEST_PAGE_BYTES = 2_500_000
MEDIAN_PAGE_BYTES = 1_500_000
SMALLEST_TEXT_IN_PNG = MIN_FONT_PT * DPI / 72   # pixels, in a figure saved by course.style
PATH_LIKE_ALT = re.compile(r"^\S+\.(png|jpe?g|svg|gif|webp)$|^[\w./-]*/[\w./-]*$", re.I)


# --- the site, served like GitHub Pages serves it ---------------------------------------------

class PagesHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site under PREFIX, and 404.html (status 404) for any missing address."""

    def log_message(self, *args):
        pass

    def translate_path(self, path):
        path = urlparse(path).path
        if not path.startswith(PREFIX):
            return str(Path(self.directory) / "__outside_the_site__")
        return super().translate_path("/" + path[len(PREFIX):])

    def send_head(self):
        target = Path(self.translate_path(self.path))
        if target.is_dir():
            target = target / "index.html"
        if not target.exists():
            body = (Path(self.directory) / "404.html").read_bytes()
            self.send_response(404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        return super().send_head()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("browser-book"))


@pytest.fixture(scope="module")
def base_url(site):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(PagesHandler, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}{PREFIX}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


class Visit:
    """One page in a fresh browser tab, recording what a reader would not see: errors."""

    def __init__(self, browser, url: str, width: int):
        self.context = browser.new_context(viewport={"width": width, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.bytes: dict[str, int] = {}
        self.page.on("pageerror", lambda error: self.errors.append(f"script error: {error}"))
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(
            f"console: {message.text} ({message.location.get('url')})"))
        self.page.on("response", self._count)
        began = time.perf_counter()
        self.page.goto(url, wait_until="load")
        self.load_seconds = time.perf_counter() - began
        self.page.wait_for_load_state("networkidle")

    def _count(self, response) -> None:
        if response.status >= 400 and not response.url.endswith("/favicon.ico"):
            self.errors.append(f"HTTP {response.status}: {response.url} "
                               f"(asked for by {response.request.headers.get('referer')})")
        try:
            self.bytes[response.url] = len(response.body())
        except Exception:   # a redirect or an aborted request has no body
            pass

    def close(self) -> None:
        self.context.close()


@pytest.fixture(scope="module")
def weights() -> dict[str, int]:
    """Bytes each page loaded at desktop width (filled by the visits, read by the budget test)."""
    return {}


# --- what the reader checks on every page -------------------------------------------------------

def sideways_scroll(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def check_navigation(page, width: int) -> list[str]:
    # The theme clips a previous/next link that is wider than its share of the page's foot.
    problems = [f"the page's {link['text']!r} link is cut off" for link in page.evaluate(
        """() => Array.from(document.querySelectorAll('.prev-next-area a'))
             .filter((a) => a.scrollWidth > a.clientWidth + 1).map((a) => ({text: a.innerText.trim()}))""")]
    if width >= 992:
        links = page.locator("#pst-primary-sidebar nav a.reference:visible").count()
        if links < 20:
            problems.append(f"the table of contents shows {links} links at desktop width")
        searches = page.locator(".search-button-field:visible, .search-button__button:visible").count()
        if searches != 1:   # the theme's duplicate header drew a second one in an empty bar
            problems.append(f"{searches} search boxes at desktop width")
        return problems
    toggle = page.locator("button.primary-toggle:visible")
    if toggle.count() != 1:
        return [f"{toggle.count()} visible menu buttons"]
    toggle.click()
    dialog = page.locator("#pst-primary-sidebar-modal")
    try:
        dialog.locator("nav a.reference").first.wait_for(state="visible", timeout=3000)
    except Exception:
        return ["the menu button opens no table of contents"]
    if dialog.locator("nav a.reference:visible").count() < 20:
        problems.append("the table of contents opened with too few links")
    page.keyboard.press("Escape")
    page.wait_for_timeout(200)
    if sideways_scroll(page) > 1:
        problems.append("the page scrolls sideways after closing the menu")
    contents = page.locator("button.secondary-toggle:visible")
    if contents.count() == 1 and page.locator("#pst-secondary-sidebar nav a").count():
        contents.click()
        try:
            page.locator("#pst-secondary-sidebar-modal nav a").first.wait_for(state="visible", timeout=3000)
        except Exception:
            problems.append("the Contents button opens nothing")
        page.keyboard.press("Escape")
    return problems


IMAGES = """() => Array.from(document.querySelectorAll('img')).filter((img) => img.offsetParent !== null)
  .map((img) => ({src: img.getAttribute('src').slice(0, 80), alt: img.getAttribute('alt'),
                  inArticle: !!img.closest('article'), figure: !!img.closest('.cell_output, .course-slider'),
                  shown: img.getBoundingClientRect().width, natural: img.naturalWidth}))"""


def check_images(page) -> list[str]:
    problems = []
    for image in page.evaluate(IMAGES):
        alt = (image["alt"] or "").strip()
        if image["inArticle"]:
            if len(alt.split()) < 4 or PATH_LIKE_ALT.match(alt):
                problems.append(f"image {image['src']} has alt text {alt!r}")
        elif image["alt"] is None:
            problems.append(f"theme image {image['src']} has no alt attribute")
        if image["figure"] and image["natural"]:
            smallest = SMALLEST_TEXT_IN_PNG * min(1.0, image["shown"] / image["natural"])
            if smallest < MIN_SCREEN_PX:
                problems.append(f"image {image['src']}: its smallest text is {smallest:.1f} px on screen")
    return problems


SLIDERS = """() => Array.from(document.querySelectorAll('.course-slider')).map((root) => {
  // The column is the output area's content box: what the reader sees without scrolling it.
  const area = root.closest('.cell_output') || root.closest('article');
  const style = getComputedStyle(area), outer = area.getBoundingClientRect();
  const column = {left: outer.left + parseFloat(style.paddingLeft),
                  right: outer.left + area.clientWidth - parseFloat(style.paddingRight)};
  const box = root.getBoundingClientRect(), input = root.querySelector('input[type=range]');
  const label = input.getAttribute('aria-label') || (input.labels[0] || {}).textContent || '';
  const parts = Array.from(root.querySelectorAll('img, button, input, output')).map((e) => e.getBoundingClientRect());
  return {left: box.left - column.left, right: column.right - box.right, label: label.trim(),
          partsInside: parts.every((r) => r.right <= column.right + 1 && r.left >= column.left - 1),
          areaScrolls: area.scrollWidth > area.clientWidth + 1,
          inputWidth: input.getBoundingClientRect().width};
})"""


def check_sliders(page) -> list[str]:
    problems = []
    for i, slider in enumerate(page.evaluate(SLIDERS)):
        if slider["left"] < -1 or slider["right"] < -1 or not slider["partsInside"] or slider["areaScrolls"]:
            problems.append(f"slider {i + 1} does not fit the column: {slider}")
        if slider["inputWidth"] < 60:
            problems.append(f"slider {i + 1}'s range input is {slider['inputWidth']:.0f} px wide")
        if len(slider["label"].split()) < 1:
            problems.append(f"slider {i + 1}'s range input has no label")
    for i, root in enumerate(page.locator(".course-slider").all()):
        image, output = root.locator("img"), root.locator("output")
        root.scroll_into_view_if_needed()
        before_src, before_text = image.get_attribute("src"), output.inner_text()
        root.locator("input[type=range]").press("End")       # the keyboard, as a reader would
        try:
            page.wait_for_function(
                "([img, src]) => img.getAttribute('src') !== src && img.complete && img.naturalWidth > 0",
                arg=[image.element_handle(), before_src], timeout=5000)
        except Exception:
            problems.append(f"slider {i + 1}: the picture did not change to a loaded frame")
        if output.inner_text() == before_text:
            problems.append(f"slider {i + 1}: the readout did not change")
    return problems


FORMULAS_CUT_OFF = """() => Array.from(document.querySelectorAll(
    '.bd-article span.math, .bd-article mjx-container[display="true"]')).filter((e) => {
    const math = e.matches('span.math') && e.querySelector('mjx-math');   // not the hidden MathML
    return (math ? math.getBoundingClientRect().width : e.scrollWidth) > e.clientWidth + 1;
  }).flatMap((e) => {
    const scrolls = ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
    const text = e.textContent.slice(0, 40);
    if (!scrolls) return [`a formula is cut off at the column's edge: ${text}`];
    if (e.getAttribute('tabindex') !== '0') return [`a formula scrolls but a keyboard cannot reach it: ${text}`];
    return [];
  })"""


def check_formulas(page) -> list[str]:
    """Every formula fits its column or scrolls inside itself by mouse and keyboard, solutions
    opened as a reader opens them (the theme clipped long inline formulas on phones)."""
    closed = page.locator(".toggle-hidden button.toggle-button")
    for _ in range(closed.count()):      # each click opens one: the first closed one is next
        closed.first.click()
    page.wait_for_timeout(200)
    return page.evaluate(FORMULAS_CUT_OFF)


def check_accessibility(page) -> list[str]:
    """axe-core on the article, the part of the page that is the course's own markup."""
    # preload off: axe would fetch the theme's @import-ed CSS itself, from a wrong address
    results = Axe().run(page, context={"include": [["article.bd-article"]]}, options={"resultTypes": ["violations"], "preload": False})
    return [f"axe {v['impact']}: {v['id']} ({len(v['nodes'])}x, e.g. {v['nodes'][0]['target']})"
            for v in results.response["violations"] if v["impact"] in ("critical", "serious")]


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
@pytest.mark.parametrize("page_path", PAGES)
def test_a_readers_visit(browser, base_url, weights, page_path, width):
    visit = Visit(browser, base_url + page_path, width)
    page = visit.page
    try:
        problems = []
        if sideways_scroll(page) > 1:
            problems.append(f"the page scrolls sideways by {sideways_scroll(page)} px")
        problems += check_images(page)
        problems += check_sliders(page)
        problems += check_accessibility(page)
        problems += check_formulas(page)
        problems += check_navigation(page, width)
        page.mouse.wheel(0, 100_000)      # read to the end: lazy images load
        page.wait_for_timeout(300)
        problems += visit.errors
        if width == WIDTHS["desktop"]:
            weights[page_path] = sum(visit.bytes.values()) + unloaded_frames(page, visit)
        assert not problems, f"{page_path} at {width} px:\n" + "\n".join(problems)
    finally:
        visit.close()


def unloaded_frames(page, visit: Visit) -> int:
    """Bytes of the slider frames the reader has not asked for yet: counted, to be strict."""
    frames = page.evaluate("""() => Array.from(document.querySelectorAll('script.course-slider-frames'))
        .flatMap((s) => JSON.parse(s.textContent)).map((src) => new URL(src, document.baseURI).href)""")
    site = Path(urlparse(visit.page.url).path)
    total = 0
    for url in set(frames) - set(visit.bytes):
        total += len(visit.page.request.get(url).body())
    return total


def test_pages_are_light(weights):
    """Every page's bytes, all assets and every slider frame counted (the visits above record them)."""
    if len(weights) < len(PAGES):
        pytest.skip("needs the desktop visits of test_a_readers_visit in the same run")
    heaviest = max(weights, key=weights.get)
    assert weights[heaviest] <= HEAVIEST_PAGE_BYTES, f"{heaviest} weighs {weights[heaviest] / 1e6:.2f} MB"
    median = statistics.median(weights.values())
    assert median <= MEDIAN_PAGE_BYTES, f"the median page weighs {median / 1e6:.2f} MB"


def test_formulas_are_typeset_without_raw_tex(browser, base_url):
    """MathJax ships with the site and typesets every formula, offline; no TeX shows through."""
    visit = Visit(browser, base_url + "book/03_learning_rate_decay.html", 1400)
    try:
        page = visit.page
        page.wait_for_function("document.querySelectorAll('mjx-container').length >= 20", timeout=20_000)
        text = page.evaluate("""() => Array.from(document.querySelectorAll('mjx-assistive-mml'))
            .map((m) => m.textContent).join(' ')""")
        assert text, "no assistive MathML: screen readers would get nothing"
        assert "\\" not in text, f"a formula shows a literal backslash: {text[text.index(chr(92)) - 30:][:60]!r}"
        assert "\\frac" not in page.locator("article").inner_text(), "raw TeX left on the page"
    finally:
        visit.close()


FORMULAS_PAST_THEIR_BOX = """() => Array.from(document.querySelectorAll('mjx-container')).filter((formula) => {
  let box = formula.parentElement;
  while (box.parentElement && getComputedStyle(box).display.startsWith('inline')) box = box.parentElement;
  const style = getComputedStyle(box), math = formula.querySelector('mjx-math');
  const right = box.getBoundingClientRect().left + box.clientWidth - parseFloat(style.paddingRight);
  return math && math.getBoundingClientRect().right > right + 1;
}).length"""


def test_printed_formulas_fit_the_page(browser, base_url):
    """make pdf prints pages at A4's width, where MathJax cannot break a wide formula: course.pdf
    shrinks each one to its box (chapter 6's Adam update and chapter 1's parameter count in a
    solution were cut off at the margin). A formula wider than any page is added, to be sure: chapter
    6 sets its Adam update on four lines now, so without it nothing on the page would be too wide."""
    from course.pdf import FIT_WIDE_FORMULAS, PRINTABLE_WIDTH_PX

    visit = Visit(browser, base_url + "book/06_adaptive_optimizers.html", PRINTABLE_WIDTH_PX)
    try:
        page = visit.page
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=20_000)
        page.evaluate("MathJax.startup.promise")
        page.evaluate("""() => {
            const wide = document.createElement('div');
            wide.className = 'math notranslate nohighlight';
            wide.textContent = String.raw`\\[` + 'w_t + '.repeat(60) + String.raw`w_0\\]`;
            document.querySelector('article section p').after(wide);
            return MathJax.typesetPromise([wide]);
        }""")
        page.emulate_media(media="print")
        too_wide = page.evaluate(FORMULAS_PAST_THEIR_BOX)
        shrunk = page.evaluate(FIT_WIDE_FORMULAS)
        assert len(shrunk) >= too_wide >= 1
        assert page.evaluate(FORMULAS_PAST_THEIR_BOX) == 0, "a formula runs past the printed page"
    finally:
        visit.close()


def test_missing_pages_get_a_working_404_page(browser, base_url):
    visit = Visit(browser, base_url + "book/no/such/chapter.html", 390)
    try:
        page = visit.page
        assert "Page not found" in page.locator("article").inner_text()
        visit.errors = [e for e in visit.errors if "no/such/chapter" not in e]   # the page asked for
        assert visit.errors == [], visit.errors       # its styles and scripts load from the root
        link = page.locator("article a", has_text="introduction")
        link.click()
        page.wait_for_load_state("load")
        assert page.url.endswith("book/00_intro.html") and "Learning rates" in page.title()
    finally:
        visit.close()


def test_every_notebook_with_an_interactive_figure_renders_one(site):
    expected = {md.relative_to(REPO).with_suffix(".html").as_posix() for md in notebook_sources()
                if "course.interactive" in md.read_text(encoding="utf-8")}
    found = {p.relative_to(site).as_posix() for p in site.rglob("*.html")
             if 'class="course-slider"' in p.read_text(encoding="utf-8")}
    assert found == expected
