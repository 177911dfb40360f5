"""Derive an exercise notebook from its solution, so that the two can never drift apart.

The solution `solutions/NN_slug.md` is written once. Its exercise `exercises/NN_slug.md` is the
same text with the answers taken out:

- in a code cell, the lines between `# BEGIN SOLUTION` and `# END SOLUTION` become a stub that
  raises NotImplementedError, indented like the markers;
- in a markdown cell, text between `<!-- BEGIN SOLUTION -->` and `<!-- END SOLUTION -->` becomes
  a prompt for the learner's own answer;
- a cell tagged `solution-only` is dropped;
- the title "Solution N" becomes "Exercise N", and outputs are cleared.
"""

from __future__ import annotations

import re

import jupytext
import nbformat

CODE_BLOCK = re.compile(r"^([ \t]*)# BEGIN SOLUTION[^\n]*\n.*?^[ \t]*# END SOLUTION[^\n]*(\n|$)", re.S | re.M)
TEXT_BLOCK = re.compile(r"<!-- BEGIN SOLUTION -->.*?<!-- END SOLUTION -->", re.S)
STUB = "{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError"
ANSWER_PROMPT = "**Your answer:** *(double-click this cell and write here)*"


def strip_solutions(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    exercise = nbformat.from_dict(notebook)  # a deep copy
    cells = []
    for cell in exercise.cells:
        if "solution-only" in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "code":
            cell.source = CODE_BLOCK.sub(lambda m: STUB.format(indent=m.group(1)) + m.group(2), cell.source)
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown":
            cell.source = TEXT_BLOCK.sub(ANSWER_PROMPT, cell.source)
            cell.source = re.sub(r"^# Solution (\d+)", r"# Exercise \1", cell.source, count=1, flags=re.M)
        cells.append(cell)
    exercise.cells = cells
    return exercise


def exercise_text(solution_md: str) -> str:
    """The exercise's MyST source for a solution's MyST source."""
    notebook = jupytext.reads(solution_md, fmt="md:myst")
    return jupytext.writes(strip_solutions(notebook), fmt="md:myst")
