"""The notebooks' bookkeeping: pairs in sync, exercises derived from solutions, conventions kept.

nbval (configured in pyproject.toml) executes every notebook and compares its outputs; these
tests check what nbval cannot see: that the committed .ipynb is the .md it claims to be.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

from course.exercise import strip_solutions
from grader.spec import exercises
from tests.helpers import REPO, notebook_sources, read_pair_cells, toc_files

SOURCES = notebook_sources()
IDS = [p.relative_to(REPO).as_posix() for p in SOURCES]


def test_every_folder_has_notebooks():
    folders = {p.parent.name for p in SOURCES}
    assert folders == {"book", "exercises", "solutions"}


@pytest.mark.parametrize("md", SOURCES, ids=IDS)
def test_pair_is_in_sync(md: Path):
    """The .ipynb twin has exactly the cells of the .md: types, sources and tags."""
    ipynb = md.with_suffix(".ipynb")
    assert ipynb.exists(), f"{ipynb.name} is missing: run `make execute NB={md.relative_to(REPO)}`"
    from_md, from_ipynb = read_pair_cells(md)
    for i, (a, b) in enumerate(zip(from_md, from_ipynb)):
        assert a == b, (f"cell {i + 1} of {md.relative_to(REPO)} differs from its .ipynb twin; "
                        f"run `make execute NB={md.relative_to(REPO)}`")
    assert len(from_md) == len(from_ipynb), f"{md.name} and its twin have different numbers of cells"


@pytest.mark.parametrize("md", [p for p in SOURCES if p.parent.name == "exercises"],
                         ids=[i for i in IDS if i.startswith("exercises/")])
def test_exercise_is_derived_from_its_solution(md: Path):
    solution = REPO / "solutions" / md.name
    assert solution.exists(), f"{md.name} has no solution notebook"
    expected = strip_solutions(jupytext.read(solution))
    actual = jupytext.read(md)
    assert [(c.cell_type, c.source) for c in actual.cells] == [(c.cell_type, c.source) for c in expected.cells], \
        f"{md.name} is not its solution with the answers taken out: run `make execute NB=solutions/{md.name}`"


@pytest.mark.parametrize("md", SOURCES, ids=IDS)
def test_outputs_are_stored_where_the_book_shows_them(md: Path):
    """Lessons and solutions are committed executed (the book renders their stored outputs);
    exercises are committed clean, as a learner starts them."""
    notebook = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    if md.parent.name == "exercises":
        assert all(not c.outputs and c.execution_count is None for c in code)
    else:
        counts = [c.execution_count for c in code]
        assert counts == list(range(1, len(code) + 1)), \
            f"{md.name} was not executed top to bottom in one go: run `make execute NB={md.relative_to(REPO)}`"


@pytest.mark.parametrize("md", [p for p in SOURCES if p.parent.name == "solutions"],
                         ids=[i for i in IDS if i.startswith("solutions/")])
def test_solution_pages_show_every_check_passing(md: Path):
    """The published solution shows `check` passing for each task. nbval alone cannot see a
    stored failure that a fresh run repeats (say, executed where the task was not yet known)."""
    notebook = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    checks = [c for c in notebook.cells if c.cell_type == "code" and c.source.startswith("check(")]
    assert checks, f"{md.name} has no check cells"
    for cell in checks:
        text = "".join(o.get("text", "") for o in cell.outputs if o.get("output_type") == "stream")
        assert text.startswith("✓"), f"{md.name}: `{cell.source}` shows {text[:80]!r}"


@pytest.mark.parametrize("md", SOURCES, ids=IDS)
def test_first_code_cell_sets_up_reproducibly(md: Path):
    notebook = jupytext.read(md)
    code = [c.source for c in notebook.cells if c.cell_type == "code"]
    first = code[0]
    imports_keras = [bool(re.search(r"^\s*(import|from)\s+(tensorflow|keras)\b", c, re.M)) for c in code]
    if any(imports_keras):
        # The first cell, or in an exercise whose grader hides Keras, the cell right after it.
        at = imports_keras.index(True)
        keras_cell = code[at]
        graded = md.parent.name in ("exercises", "solutions")
        hides_keras = graded and "keras" in exercises()[md.stem].hidden_modules
        assert at == (1 if hides_keras else 0), "import TensorFlow/Keras in the first cell" + (
            " after the set-up: the grader hides Keras from this exercise" if hides_keras else "")
        assert keras_cell.index('TF_CPP_MIN_LOG_LEVEL"] = "3"') < keras_cell.index("import keras"), \
            "set TF_CPP_MIN_LOG_LEVEL before Keras is imported"
        assert "keras.utils.set_random_seed(" in keras_cell
        assert "enable_op_determinism()" in keras_cell
        # One thread per pool: otherwise TensorFlow splits sums by the machine's core count, and
        # an 8-core laptop computes other last bits than the machine that stored the outputs.
        assert "pin_thread_pools()" in keras_cell, "call course.setup.pin_thread_pools() where Keras is imported"
    assert "google.colab" in first, "the first cell installs the course package in Colab"


@pytest.mark.parametrize("md", SOURCES, ids=IDS)
def test_training_is_quiet(md: Path):
    """fit(verbose=1) writes progress-bar control characters into outputs and the HTML."""
    for cell in jupytext.read(md).cells:
        if cell.cell_type == "code" and re.search(r"\.fit\(", cell.source):
            assert "verbose=0" in cell.source, f"a fit() call in {md.name} lacks verbose=0"


def test_repository_address_is_set_in_one_place():
    url = yaml.safe_load((REPO / "_config.yml").read_text())["repository"]["url"]
    for md in SOURCES:
        for found in re.findall(r"git\+(https://\S+?)[\"'\s]", md.read_text()):
            assert found == url, f"{md.name} installs from {found}, but _config.yml says {url}"


def test_toc_lists_every_page_once():
    listed = toc_files(REPO / "_toc.yml")
    assert len(listed) == len(set(listed))
    pages = {p.relative_to(REPO).as_posix() for p in SOURCES}
    notebooks = {p.replace(".md", ".ipynb") for p in pages}
    assert notebooks <= set(listed), f"not in _toc.yml: {sorted(notebooks - set(listed))}"
    for entry in listed:
        assert (REPO / entry).exists(), f"_toc.yml lists {entry}, which does not exist"


def test_student_toc_is_the_toc_without_solutions():
    full = [f for f in toc_files(REPO / "_toc.yml") if not f.startswith("solutions/")]
    assert toc_files(REPO / "_toc_student.yml") == full


def test_chapters_exercises_and_solutions_share_slugs():
    def slugs(folder: str) -> set[str]:
        return {p.stem for p in SOURCES if p.parent.name == folder}

    assert slugs("exercises") == slugs("solutions")
    assert slugs("exercises") <= slugs("book")


def test_notebooks_are_valid_nbformat():
    for md in SOURCES:
        nbformat.validate(nbformat.read(md.with_suffix(".ipynb"), as_version=4))
        json.loads(md.with_suffix(".ipynb").read_text())  # plain JSON too


GRADED_CODE = re.compile(r"^[ \t]*# BEGIN SOLUTION[^\n]*\n(.*?)^[ \t]*# END SOLUTION", re.S | re.M)
IDIOM = 20  # shorter lines ("return rates", "w, b = 0.0, 0.0") are idioms, not answers


def test_student_build_shows_no_line_of_graded_code():
    """No line of a solution's graded code appears in a page of the student build (the chapters,
    the appendix, the exercises) or in a task's hint: the answers are not on the page."""
    from grader.spec import exercises

    pages = {p: {line.strip() for line in p.read_text().splitlines()}
             for folder in ("book", "exercises") for p in sorted((REPO / folder).glob("*.md"))}
    hints = " ".join(task.hint for e in exercises().values() for task in e.tasks)
    leaks = []
    for solution in sorted((REPO / "solutions").glob("*.md")):
        for block in GRADED_CODE.findall(solution.read_text()):
            for line in {raw.strip() for raw in block.splitlines()}:
                if len(line) < IDIOM or line.startswith("#"):
                    continue
                leaks += [f"{solution.name}: {line!r} in {p.relative_to(REPO)}"
                          for p, lines in pages.items() if line in lines]
                if line in hints:
                    leaks.append(f"{solution.name}: {line!r} in a hint")
    assert not leaks, "graded code shown to learners:\n" + "\n".join(leaks)
