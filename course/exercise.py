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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import nbformat

# nbformat and jupytext are imported where they are used: the grader imports this module for its
# markers and prompt only, and nbformat's import (jsonschema's format checkers build a parser)
# costs about a second of CPU, once per batch.

CODE_BLOCK = re.compile(r"^([ \t]*)# BEGIN SOLUTION[^\n]*\n.*?^[ \t]*# END SOLUTION[^\n]*(\n|$)", re.S | re.M)
TEXT_BLOCK = re.compile(r"<!-- BEGIN SOLUTION -->(.*?)<!-- END SOLUTION -->", re.S)  # group 1: the answer
STUB = "{indent}# YOUR CODE HERE\n{indent}raise NotImplementedError"
ANSWER_PROMPT = "**Your answer:** *(double-click this cell and write here)*"


# Any marker left after the blocks are taken out is half of a pair: the regexes above match only
# whole pairs, so an unclosed BEGIN would otherwise keep the solution in the learner's notebook.
LEFTOVER_MARKER = {"code": re.compile(r"#\s*(BEGIN|END) SOLUTION"),
                   "markdown": re.compile(r"<!--\s*(BEGIN|END) SOLUTION\s*-->")}


class UnpairedMarker(ValueError):
    """A solution marker without its partner: the exercise would show (part of) the answer."""


def _check_pairs(cell: nbformat.NotebookNode, index: int, stripped: str) -> None:
    leftover = LEFTOVER_MARKER[cell.cell_type].search(stripped)
    if leftover:
        first_line = cell.source.strip().splitlines()[0][:80]
        missing = "an END SOLUTION marker after it" if leftover.group(1) == "BEGIN" else "a BEGIN SOLUTION marker before it"
        raise UnpairedMarker(f"{cell.cell_type} cell {index + 1} (starting {first_line!r}) has "
                             f"{leftover.group(0)!r} without {missing}")


def strip_solutions(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The exercise for a solution notebook; raises UnpairedMarker rather than leak an answer."""
    import nbformat

    exercise = nbformat.from_dict(notebook)  # a deep copy
    cells = []
    for index, cell in enumerate(exercise.cells):
        if "solution-only" in cell.metadata.get("tags", []):
            continue
        if cell.cell_type == "code":
            stripped = CODE_BLOCK.sub(lambda m: STUB.format(indent=m.group(1)) + m.group(2), cell.source)
            _check_pairs(cell, index, stripped)
            cell.source = stripped
            cell.outputs, cell.execution_count = [], None
        elif cell.cell_type == "markdown":
            stripped = TEXT_BLOCK.sub(ANSWER_PROMPT, cell.source)
            _check_pairs(cell, index, stripped)
            cell.source = stripped
            cell.source = re.sub(r"^# Solution (\d+)", r"# Exercise \1", cell.source, count=1, flags=re.M)
        cells.append(cell)
    exercise.cells = cells
    return exercise


def exercise_text(solution_md: str) -> str:
    """The exercise's MyST source for a solution's MyST source."""
    import jupytext

    notebook = jupytext.reads(solution_md, fmt="md:myst")
    return jupytext.writes(strip_solutions(notebook), fmt="md:myst")
