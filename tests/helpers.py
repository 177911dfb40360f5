"""Shared by the tests: where things are, and how to read them."""

from __future__ import annotations

import os
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
FOLDERS = ("book", "exercises", "solutions")


def notebook_sources() -> list[Path]:
    """Every MyST notebook: the .md files with a kernelspec in their header."""
    found = []
    for folder in FOLDERS:
        for md in sorted((REPO / folder).glob("*.md")):
            header = md.read_text(encoding="utf-8").split("\n---", 1)[0]
            if "kernelspec:" in header:
                found.append(md)
    return found


def _cells(notebook) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(c.cell_type, c.source, tuple(c.metadata.get("tags", []))) for c in notebook.cells]


def read_pair_cells(md: Path):
    """The cells of a .md and of its .ipynb twin, as (type, source, tags) triples."""
    return _cells(jupytext.read(md)), _cells(nbformat.read(md.with_suffix(".ipynb"), as_version=4))


def toc_files(toc: Path) -> list[str]:
    """Every file a Jupyter Book TOC lists, root first, in order."""
    data = yaml.safe_load(toc.read_text())
    files = [data["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in data.get("parts", []):
        walk(part.get("chapters"))
    walk(data.get("chapters"))
    return files


def notebook_namespace(path: Path) -> dict:
    """Run a notebook's code cells in this process (magics translated) and return its globals."""
    import contextlib
    import io

    from IPython.core.inputtransformer2 import TransformerManager

    notebook = nbformat.read(path, as_version=4)
    namespace: dict = {"__name__": "__notebook__"}
    transform = TransformerManager().transform_cell
    with contextlib.redirect_stdout(io.StringIO()):
        for cell in notebook.cells:
            if cell.cell_type == "code":
                exec(compile(transform(cell.source), str(path), "exec"), namespace)
    return namespace


# CI sets REQUIRE_CONFINEMENT=1: there a missing isolation layer fails a test instead of skipping it.
REQUIRED = os.environ.get("REQUIRE_CONFINEMENT") == "1"


def require_confinement() -> None:
    """Skip, or fail where confinement is required (CI), when an isolation layer is missing."""
    from grader.sandbox import isolation

    missing = isolation.probe().summary()
    if missing:
        message = f"this machine lacks isolation layers the test needs:\n{missing}"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
