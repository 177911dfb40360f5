"""The book build is a test: every page renders with warnings as errors (-W -n).

The build does not execute anything: it renders the outputs stored in the .ipynb files, which
nbval has just checked against a fresh run. These tests then look at the HTML a reader gets.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from tests.helpers import REPO, toc_files

JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"


def build(out: Path, toc: str = "_toc.yml") -> Path:
    process = subprocess.run(
        [str(JUPYTER_BOOK), "build", str(REPO), "--toc", str(REPO / toc), "--path-output", str(out),
         "--builder", "html", "-W", "-n", "--keep-going"],
        capture_output=True, text=True, timeout=900)
    warnings = [line for line in process.stdout.splitlines() + process.stderr.splitlines()
                if "WARNING" in line and "Location 'file:" not in line]
    assert process.returncode == 0, "the book does not build cleanly:\n" + "\n".join(warnings[-30:] or [process.stdout[-3000:]])
    return out / "_build" / "html"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("book"))


def page(site: Path, entry: str) -> str:
    return (site / Path(entry).with_suffix(".html")).read_text(encoding="utf-8")


def test_every_toc_entry_is_a_page(site):
    for entry in toc_files(REPO / "_toc.yml"):
        assert (site / Path(entry).with_suffix(".html")).exists(), f"no page for {entry}"
    assert (site / "index.html").exists()


def test_pages_show_the_stored_outputs(site):
    """The rendered page carries exactly the figures and printed lines stored in the notebook."""
    for entry in toc_files(REPO / "_toc.yml"):
        if not entry.endswith(".ipynb"):
            continue
        notebook = nbformat.read(REPO / entry, as_version=4)
        outputs = [o for c in notebook.cells if c.cell_type == "code" and "remove-cell" not in c.metadata.get("tags", [])
                   for o in c.outputs]
        images = sum("image/png" in o.get("data", {}) for o in outputs)
        html = page(site, entry)
        assert len(re.findall(r'<img[^>]+src="[^"]*_images/(?!slider-)', html)) == images, entry
        for o in outputs:
            if o.output_type == "stream" and o.text.strip():
                first_line = o.text.strip().splitlines()[0]
                escaped = first_line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                assert escaped in html or first_line in html, f"{entry}: output line {first_line!r} not on the page"


def test_launch_buttons_open_the_ipynb_twin(site):
    url = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]
    repo_path = url.removeprefix("https://github.com/")
    html = page(site, "book/01_parameters_vs_hyperparameters.ipynb")
    assert f"colab.research.google.com/github/{repo_path}/blob/main/book/01_parameters_vs_hyperparameters.ipynb" in html
    assert f"mybinder.org/v2/gh/{repo_path}/main?urlpath=lab/tree/book/01_parameters_vs_hyperparameters.ipynb" in html


def test_exercise_pages_start_blank(site):
    html = page(site, "exercises/01_parameters_vs_hyperparameters.ipynb")
    assert "NotImplementedError" in html
    assert "public cases pass" not in html  # no stored check() output


def test_citations_resolve_to_the_bibliography(site):
    chapter = page(site, "book/01_parameters_vs_hyperparameters.ipynb")
    appendix = page(site, "book/99_appendix.md")
    assert "Bengio" in chapter and "99_appendix.html#id" in chapter
    assert "Practical recommendations for gradient-based training" in appendix


def test_student_book_has_no_solutions(tmp_path):
    student = build(tmp_path, toc="_toc_student.yml")
    assert not (student / "solutions").exists()
    assert (student / "exercises" / "01_parameters_vs_hyperparameters.html").exists()
    for html in student.rglob("*.html"):
        links = re.findall(r'href="([^"]*solutions/[^"]*)"', html.read_text(encoding="utf-8"))
        assert not links, f"{html.name} links to a solution: {links}"
    intro = (student / "book" / "00_intro.html").read_text(encoding="utf-8")
    assert "Solutions" not in re.sub(r"<[^>]+>", "", intro), "the student intro points to a Solutions part"


# --- the site a reader gets (issue 14): what the HTML must and must not hold -------------------

def test_pages_carry_link_preview_metadata_and_a_favicon(site):
    for entry in toc_files(REPO / "_toc.yml"):
        html = page(site, entry)
        for tag in ('property="og:title"', 'property="og:description"', 'property="og:image"',
                    'property="og:url"', 'name="description"'):
            assert tag in html, f"{entry}: no {tag}"
        assert re.search(r'<link rel="icon" href="[^"]*favicon\.svg"', html), f"{entry}: no favicon"
        assert re.search(r'<img src="[^"]*logo\.svg"[^>]*alt="[^"]+"', html), f"{entry}: no logo"


def test_figures_are_numbered_within_their_chapter(site):
    """Figure 6.1, 6.2 ... on chapter 6, and Figure 6b.1 ... on its second page."""
    for entry, chapter in [("book/06_adaptive_optimizers.ipynb", "6"), ("book/06b_optimizer_race.ipynb", "6b")]:
        html = page(site, entry)
        numbers = re.findall(r'<span class="caption-number">Figure (\d+[a-z]?)\.(\d+) </span>', html)
        assert numbers and {found for found, _ in numbers} == {chapter}, (entry, numbers)
        assert [int(n) for _, n in numbers] == list(range(1, len(numbers) + 1))


def test_slider_frames_are_image_files_not_page_weight(site):
    for html_file in site.rglob("*.html"):
        html = html_file.read_text(encoding="utf-8")
        assert "data:image/png;base64" not in html, f"{html_file.name} embeds pictures"
        for frame in re.findall(r'"((?:\.\./)*_images/slider-[0-9a-f]+\.png)"', html):
            assert (html_file.parent / frame).is_file(), f"{html_file.name}: {frame} is missing"


def test_theme_extras_that_weigh_without_use_are_gone(site):
    html = page(site, "book/02_learning_rate.ipynb")
    assert "fontawesome.js" not in html and 'id="pst-header"' in html
    assert "mathjax/startup.js" in html and "tex-chtml.js" not in html
    fonts = list((site / "_static" / "vendor").rglob("fa-solid-900.woff2"))
    assert fonts and fonts[0].stat().st_size < 20_000, "the icon font is not cut down to the icons used"


def test_the_404_page_works_at_any_depth(site):
    html = (site / "404.html").read_text(encoding="utf-8")
    assert '<base href="/learning-rates-course/">' in html and "Page not found" in html


def test_bibliography_labels_read_like_the_citations(site):
    appendix = page(site, "book/99_appendix.md")
    # an entry the appendix itself cites gets its label as a backlink
    labels = re.findall(r'<span class="label"><span class="fn-bracket">\[</span>(?:<a [^>]*>)?([^<]*)<',
                        appendix)
    assert labels and all(re.fullmatch(r"[^\d\[\]]+, (19|20)\d\d[a-z]?", label) for label in labels), labels
    assert "Kingma and Ba, 2015" in labels
    bibliography = appendix[appendix.index('class="citation-list"'):] if 'class="citation-list"' in appendix else appendix
    assert "$" not in re.sub(r"<[^>]+>", "", bibliography), "raw TeX in the bibliography"


def test_solution_boxes_have_real_titles(site):
    for entry in toc_files(REPO / "_toc.yml"):
        if not entry.startswith("book/"):
            continue
        titles = re.findall(r'<p class="admonition-title">(Solution to[^<]*(?:<[^>]+>[^<]*)*?)</p>', page(site, entry))
        for title in titles:
            text = re.sub(r"<[^>]+>", "", title)
            assert re.fullmatch(r"Solution to Exercise \d+\.\d+ \(.+\)", text), f"{entry}: {text!r}"


def test_exercise_pages_say_where_the_answer_goes(site):
    from course.exercise import ANSWER_PROMPT

    prompts = 0
    for entry in toc_files(REPO / "_toc.yml"):
        if entry.startswith("exercises/"):
            html = page(site, entry)
            assert "double-click" not in html, f"{entry} asks the web reader to double-click"
            prompts += html.count('class="course-answer')
    assert prompts > 0 and "double-click" in ANSWER_PROMPT   # the notebooks keep their prompt
