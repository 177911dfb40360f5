"""`python -m course.pdf SINGLEHTML_DIR OUT.pdf`: the whole book as one PDF, offline.

`make pdf` first builds the book as a single HTML page (Sphinx's singlehtml builder, from the
stored outputs), then this prints that page with headless Chromium (Debian's `chromium`, or any
Chrome on PATH), driven by Playwright: formulas typeset by the bundled MathJax, every figure
loaded, the site's print styles (course/static/course.css) applied, A4 with page numbers.
No LaTeX and no download: the same tools that test the site make its PDF.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
# The page's content width in CSS pixels: A4 (210 mm) less the two 14 mm margins of print_pdf.
PRINTABLE_WIDTH_PX = round((210 - 2 * 14) / 25.4 * 96)

# MathJax 3 does not break lines. On screen a wide display formula scrolls inside itself
# (course.css); on paper it would be cut off at the margin, and so would a long inline formula
# in a narrow box (a solution). Shrink each one to the width it has; return the zoom factors.
# The room is measured in the screen layout at the printed width with print styles on; the
# printed boxes came out up to 5 % narrower (a solution's padding): a formula that takes more
# than 95 % of its room is shrunk to 90 % of it.
FIT_WIDE_FORMULAS = """() => Array.from(document.querySelectorAll('mjx-container')).flatMap((formula) => {
  let box = formula.parentElement;
  while (box.parentElement && getComputedStyle(box).display.startsWith('inline')) box = box.parentElement;
  const style = getComputedStyle(box);
  const room = box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const math = formula.querySelector('mjx-math');   // a display formula's box is the row's width
  const width = math ? math.getBoundingClientRect().width : formula.scrollWidth;
  if (width <= 0.95 * room) return [];
  const zoom = Math.floor(90 * room / width) / 100;
  formula.style.zoom = zoom;
  return [zoom];
})"""

FOOTER = ('<div style="font-size: 8px; width: 100%; text-align: center; color: #555;">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')


def chromium() -> str:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    raise SystemExit("make pdf needs Chromium: apt-get install chromium (or put Chrome on PATH)")


def print_pdf(html: Path, out: Path) -> int:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        page = browser.new_page()
        page.goto(html.resolve().as_uri(), wait_until="load")
        page.evaluate("document.querySelectorAll('img[loading=lazy]').forEach((i) => { i.loading = 'eager'; })")
        page.wait_for_function("Array.from(document.images).every((i) => i.complete)", timeout=120_000)
        broken = page.evaluate("Array.from(document.images).filter((i) => !i.naturalWidth).map((i) => i.src)")
        if broken:
            raise SystemExit(f"{len(broken)} pictures did not load, e.g. {broken[0]}")
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60_000)
        page.evaluate("MathJax.startup.promise")
        page.set_viewport_size({"width": PRINTABLE_WIDTH_PX, "height": 1000})   # lay out as printed
        page.emulate_media(media="print")
        shrunk = page.evaluate(FIT_WIDE_FORMULAS)
        if shrunk:
            print(f"{len(shrunk)} formulas shrunk to fit the page (smallest zoom {min(shrunk)})")
        page.pdf(path=str(out), format="A4", print_background=True, display_header_footer=True,
                 header_template="<span></span>", footer_template=FOOTER,
                 margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"})
        browser.close()
    return out.stat().st_size


def single_page(folder: Path) -> Path:
    """The one page of a singlehtml build. Its links are relative to the build's root, but Sphinx
    writes it beside the root document (book/00_intro.html): a copy at the root resolves them."""
    redirect = (folder / "index.html").read_text(encoding="utf-8")
    match = re.search(r'url=([^"]+)"', redirect)
    source = folder / match.group(1) if match else folder / "index.html"
    page = folder / "book.html"
    shutil.copyfile(source, page)
    return page


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m course.pdf SINGLEHTML_DIR OUT.pdf", file=sys.stderr)
        return 2
    folder, out = Path(argv[0]), Path(argv[1])
    if not (folder / "index.html").is_file():
        print(f"{folder}: no singlehtml build here (make pdf builds one)", file=sys.stderr)
        return 2
    html = single_page(folder)
    out.parent.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    size = print_pdf(html, out)
    print(f"{out}: {size / 1e6:.1f} MB, printed in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
