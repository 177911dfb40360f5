"""The website's conventions, checked in the sources and stored outputs (no build needed).

What a chapter author must keep (README, Contributing): code lines of at most LINE_LIMIT
characters; every figure with a name, a caption and alt text in its cell's `mystnb` metadata;
figures no wider than course.style allows and no text smaller than its minimum; no tracebacks in
stored outputs; formulas without escaped underscores in \\text; lines drawn in colours that stand
out from the page. And the publishing workflows pass actionlint.
"""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from course.style import MAX_WIDTH_PX, MIN_FONT_PT, PALETTE
from tests.helpers import REPO, notebook_sources

LINE_LIMIT = 79   # what the book's code column holds at desktop width without scrolling
MAX_COLOUR_SHIFT = 48   # of 441 in RGB: anti-aliased edges shift a little, a line's hue must not
SOURCES = notebook_sources()
IDS = [p.relative_to(REPO).as_posix() for p in SOURCES]
CHAPTERS = [p for p in SOURCES if p.parent.name == "book"]
WORKFLOWS = REPO / ".github" / "workflows"
EMBEDDED_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=]+)")


def stored_notebook(md: Path) -> nbformat.NotebookNode:
    return nbformat.read(md.with_suffix(".ipynb"), as_version=4)


def pngs(cell) -> list[bytes]:
    found = []
    for output in cell.get("outputs", []):
        data = output.get("data", {})
        if "image/png" in data:
            found.append(base64.b64decode(data["image/png"]))
        found += [base64.b64decode(m) for m in EMBEDDED_PNG.findall(data.get("text/html", ""))]
    return found


# --- the workflows --------------------------------------------------------------------------------

def test_workflows_pass_actionlint():
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert files, "no workflows in .github/workflows"
    actionlint = Path(sys.executable).parent / "actionlint"
    result = subprocess.run([str(actionlint), "-no-color", *map(str, files)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_pull_requests_run_ci_and_main_publishes_both_sites():
    workflows = {p.name: yaml.safe_load(p.read_text()) for p in WORKFLOWS.glob("*.yml")}
    steps = {name: [step.get("run", "") + step.get("uses", "") for job in w["jobs"].values()
                    for step in job.get("steps", [])] for name, w in workflows.items()}
    triggers = {name: w.get("on", w.get(True)) for name, w in workflows.items()}   # YAML reads `on` as True
    ci = [n for n, on in triggers.items() if "pull_request" in on]
    assert ci and any("bash .ci/run" in s for n in ci for s in steps[n]), "no workflow runs .ci/run on pull requests"
    pages = [n for n, on in triggers.items() if "main" in str((on or {}).get("push", ""))]
    assert pages, "no workflow runs on a push to main"
    published = " ".join(s for n in pages for s in steps[n])
    assert "make book" in published and "make student-book" in published
    assert "actions/deploy-pages" in published and "actions/upload-pages-artifact" in published


# --- code and figures in the notebooks --------------------------------------------------------------

@pytest.mark.parametrize("md", SOURCES, ids=IDS)
def test_code_lines_fit_the_column(md: Path):
    """At most LINE_LIMIT characters, except a line that holds an address it cannot break."""
    long = [(i + 1, line) for cell in jupytext.read(md).cells if cell.cell_type == "code"
            for i, line in enumerate(cell.source.splitlines()) if len(line) > LINE_LIMIT and "://" not in line]
    assert not long, f"{len(long)} code lines longer than {LINE_LIMIT} characters, e.g. {long[0][1]!r}"


@pytest.mark.parametrize("md", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_every_figure_has_a_name_a_caption_and_alt_text(md: Path):
    for cell in stored_notebook(md).cells:
        if cell.cell_type != "code" or not any("image/png" in o.get("data", {}) for o in cell.outputs):
            continue
        meta = cell.metadata.get("mystnb", {})
        figure, alt = meta.get("figure", {}), meta.get("image", {}).get("alt", "")
        where = f"{md.name}, the cell starting {cell.source.splitlines()[0]!r}"
        assert re.fullmatch(r"fig-[a-z0-9-]+", figure.get("name", "")), f"{where}: no figure name"
        assert len(figure.get("caption", "").split()) >= 5, f"{where}: no caption"
        assert len(alt.split()) >= 8, f"{where}: the alt text does not say what the figure shows"
        images = sum("image/png" in o.get("data", {}) for o in cell.outputs)
        assert images == 1, f"{where}: {images} pictures share one caption"


def test_figure_names_are_unique():
    names = [c.metadata["mystnb"]["figure"]["name"] for md in CHAPTERS for c in stored_notebook(md).cells
             if "figure" in c.metadata.get("mystnb", {})]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


@pytest.mark.parametrize("md", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_figures_are_made_for_a_phone(md: Path):
    """course.style's size rule: no picture wider than MAX_WIDTH_PX, no font below MIN_FONT_PT."""
    from PIL import Image

    for cell in stored_notebook(md).cells:
        for png in pngs(cell):
            with Image.open(io.BytesIO(png)) as image:
                assert image.width <= MAX_WIDTH_PX, (
                    f"{md.name}: a {image.width} px wide figure (at most {MAX_WIDTH_PX}: stack its panels), "
                    f"in the cell starting {cell.source.splitlines()[0]!r}")
    source = md.read_text(encoding="utf-8")
    for keyword, size in re.findall(r"\b(\w*fontsize|labelsize)\s*=\s*(\d+(?:\.\d+)?|['\"][a-z-]+['\"])", source):
        size = size.strip("'\"")
        small = size in ("xx-small", "x-small", "small", "smaller") or (size[0].isdigit() and float(size) < MIN_FONT_PT)
        assert not small, f"{md.name}: {keyword}={size} is below the course's {MIN_FONT_PT} pt"


@pytest.mark.parametrize("md", CHAPTERS, ids=[p.name for p in CHAPTERS])
def test_the_sites_compression_keeps_every_colour(md: Path):
    """The site shows figures and slider frames as palette PNGs (course.sphinx.compress_png);
    no pixel may move far enough to change a line's hue (a red line drawn orange, as median
    cut did, makes two curves of a legend one)."""
    import numpy as np
    from PIL import Image

    from course.sphinx import FIGURE_COLOURS, FRAME_COLOURS, compress_png

    for cell in stored_notebook(md).cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            pictures = [(base64.b64decode(data["image/png"]), FIGURE_COLOURS)] if "image/png" in data else []
            pictures += [(base64.b64decode(m), FRAME_COLOURS) for m in EMBEDDED_PNG.findall(data.get("text/html", ""))]
            for png, colours in pictures:
                with Image.open(io.BytesIO(png)) as original, \
                        Image.open(io.BytesIO(compress_png(png, colours))) as shown:
                    before = np.asarray(original.convert("RGB"), dtype=float)
                    after = np.asarray(shown.convert("RGB"), dtype=float)
                shift = np.sqrt(((before - after) ** 2).sum(axis=-1)).max()
                assert shift <= MAX_COLOUR_SHIFT, (
                    f"{md.name}: compressing a figure moves a colour by {shift:.0f} (RGB distance), "
                    f"in the cell starting {cell.source.splitlines()[0]!r}")


def test_line_colours_stand_out_from_the_page():
    """WCAG 1.4.11: a line needs 3:1 contrast against the white page."""
    def luminance(colour: str) -> float:
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    for colour in PALETTE:
        assert 1.05 / (luminance(colour) + 0.05) >= 3, f"{colour} is too light to draw lines with"


@pytest.mark.parametrize("md", [p for p in SOURCES if p.parent.name != "exercises"],
                         ids=[i for i in IDS if not i.startswith("exercises/")])
def test_stored_outputs_show_no_traceback(md: Path):
    """A cell that demonstrates an error prints its message; the page never shows a traceback
    (nor the paths of the machine that ran it)."""
    for cell in stored_notebook(md).cells:
        if cell.cell_type != "code":
            continue
        assert "raises-exception" not in cell.metadata.get("tags", []), f"{md.name}: a cell is tagged raises-exception"
        for output in cell.outputs:
            assert output.output_type != "error", f"{md.name}: a stored error in {cell.source[:60]!r}"
            text = output.get("text", "") + str(output.get("data", {}).get("text/plain", ""))
            for sign in ("Traceback (most recent call last)", "site-packages", "/.venv/"):
                assert sign not in text, f"{md.name}: {sign!r} in the output of {cell.source[:60]!r}"


@pytest.mark.parametrize("md", [p for p in REPO.glob("*/*.md") if p.parent.name in ("book", "exercises", "solutions")],
                         ids=lambda p: p.relative_to(REPO).as_posix())
def test_formulas_have_no_escaped_underscore_in_text_mode(md: Path):
    r"""MathJax shows `\text{decay\_steps}` with its backslash; `\mathrm{decay\_steps}` is right."""
    found = re.findall(r"\\text\{[^{}]*\\_[^{}]*\}", md.read_text(encoding="utf-8"))
    assert not found, f"{md.name}: {found[0]} (write \\mathrm{{...}})"
