"""`python -m course.execute NOTEBOOK.md...`: write each .md into its .ipynb twin and execute it.

The .md (MyST) is the source; the .ipynb twin is what Colab, Binder, the book and nbval read.

- book/ and solutions/ notebooks are executed and keep their outputs: the book shows them, and
  nbval compares a fresh run against them in `make test`;
- an exercise is derived from its solution (course.exercise) and written without outputs, since
  it is the learner's starting point (nbval still runs it to catch errors). Executing a solution
  rewrites its exercise too.
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient
from nbconvert.preprocessors import CoalesceStreamsPreprocessor

from .exercise import strip_solutions

TIMEOUT = 600  # per cell, for the developer's run; the tests keep nbval's own limit


def _stable_ids(notebook: nbformat.NotebookNode) -> None:
    """Cell ids from position and content, so that re-running an unchanged notebook leaves its
    .ipynb unchanged in git (jupytext would draw new random ids on every read)."""
    for index, cell in enumerate(notebook.cells):
        digest = hashlib.sha1(f"{index}:{cell.cell_type}:{cell.source}".encode()).hexdigest()
        cell.id = digest[:12]


def _write_pair(notebook: nbformat.NotebookNode, md: Path) -> None:
    notebook.metadata.setdefault("jupytext", {})["formats"] = "ipynb,md:myst"
    _stable_ids(notebook)
    nbformat.validate(notebook)
    jupytext.write(notebook, md.with_suffix(".ipynb"), fmt="ipynb")
    jupytext.write(notebook, md, fmt="md:myst")  # the same notebook, so both carry the same text


def run(notebook: nbformat.NotebookNode, folder: Path) -> float:
    began = time.perf_counter()
    NotebookClient(notebook, timeout=TIMEOUT, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(folder)}}).execute()
    # A print can reach the notebook in two stream messages (text, then its newline) on a busy
    # machine; stored as one, the output does not depend on the machine's load.
    CoalesceStreamsPreprocessor().preprocess(notebook, {})
    return time.perf_counter() - began


def clear_outputs(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return notebook


def process(md: Path) -> list[str]:
    """Bring one notebook (and, for a solution, its exercise) up to date; report lines."""
    kind = md.parent.name
    if kind == "exercises":  # one without a solution to derive it from
        _write_pair(clear_outputs(jupytext.read(md)), md)
        return [f"{md.with_suffix('.ipynb')}: written without outputs"]
    notebook = jupytext.read(md)
    seconds = run(notebook, md.parent)
    _write_pair(notebook, md)
    lines = [f"{md.with_suffix('.ipynb')}: executed in {seconds:.1f} s"]
    if kind == "solutions":
        exercise_md = md.parent.parent / "exercises" / md.name
        _write_pair(strip_solutions(notebook), exercise_md)
        lines.append(f"{exercise_md.with_suffix('.ipynb')}: derived from the solution, without outputs")
    return lines


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: python -m course.execute NOTEBOOK.md [...]", file=sys.stderr)
        return 2
    done: set[Path] = set()
    for arg in argv:
        md = Path(arg).with_suffix(".md")
        if not md.exists():
            print(f"{md}: no such MyST notebook", file=sys.stderr)
            return 2
        target = md
        if md.parent.name == "exercises" and (md.parent.parent / "solutions" / md.name).exists():
            target = md.parent.parent / "solutions" / md.name
        if target.resolve() in done:
            continue
        done.add(target.resolve())
        for line in process(target):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
