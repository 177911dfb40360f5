"""`python -m course.pdf SINGLEHTML OUT.pdf`: the whole book as one PDF, offline.

`make pdf` first builds the book as a single HTML page (Sphinx's singlehtml builder, from the
stored outputs), then this prints that page with headless Chromium (Debian's `chromium`, or any
Chrome on PATH), driven by Playwright: formulas typeset by the bundled MathJax, every figure
loaded, the site's print styles (course/static/course.css) applied, A4 with page numbers.
No LaTeX and no download: the same tools that test the site make its PDF.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
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
        page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise", timeout=60_000)
        page.evaluate("MathJax.startup.promise")
        page.emulate_media(media="print")
        page.pdf(path=str(out), format="A4", print_background=True, display_header_footer=True,
                 header_template="<span></span>", footer_template=FOOTER,
                 margin={"top": "16mm", "bottom": "18mm", "left": "14mm", "right": "14mm"})
        browser.close()
    return out.stat().st_size


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m course.pdf SINGLEHTML_INDEX OUT.pdf", file=sys.stderr)
        return 2
    html, out = Path(argv[0]), Path(argv[1])
    if not html.is_file():
        print(f"{html}: no such page (build it with the singlehtml builder first)", file=sys.stderr)
        return 2
    began = time.perf_counter()
    size = print_pdf(html, out)
    print(f"{out}: {size / 1e6:.1f} MB, printed in {time.perf_counter() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
