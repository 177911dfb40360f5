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
        assert len(re.findall(r'<img[^>]+src="[^"]*_images/', html)) == images, entry
        for o in outputs:
            if o.output_type == "stream":
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
