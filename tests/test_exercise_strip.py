"""course.exercise.strip_solutions: the answers come out, and a half-marked answer is an error.

These tests do not reuse the module's regexes: they count markers and read lines.
"""

from __future__ import annotations

import jupytext
import nbformat
import pytest

from course.exercise import ANSWER_PROMPT, UnpairedMarker, strip_solutions
from tests.helpers import REPO

CODE = "import numpy as np\n\ndef f(x):\n    # BEGIN SOLUTION\n    secret = 2 * x\n    return secret\n    # END SOLUTION\n"


def notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def code(source: str, **kwargs) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(source, **kwargs)


def text(source: str, **kwargs) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(source, **kwargs)


def test_a_code_answer_becomes_an_indented_stub():
    [cell] = strip_solutions(notebook(code(CODE))).cells
    assert cell.source.splitlines() == ["import numpy as np", "", "def f(x):", "    # YOUR CODE HERE",
                                        "    raise NotImplementedError"]


def test_two_answers_in_one_cell_and_text_after_them_are_kept_apart():
    source = ("def f(x):\n  # BEGIN SOLUTION (any note)\n  return 1\n  # END SOLUTION\n\n"
              "def g(x):\n        # BEGIN SOLUTION\n        return 2\n        # END SOLUTION\nprint('kept')")
    [cell] = strip_solutions(notebook(code(source))).cells
    lines = cell.source.splitlines()
    assert "  raise NotImplementedError" in lines and "        raise NotImplementedError" in lines
    assert "return 1" not in cell.source and "return 2" not in cell.source
    assert lines[-1] == "print('kept')" and lines.count("") == 1


def test_a_written_answer_becomes_a_prompt_and_the_title_changes():
    source = "# Solution 3: decay\n\nWhy? <!-- BEGIN SOLUTION -->Because the\nloss plateaus.<!-- END SOLUTION -->"
    [cell] = strip_solutions(notebook(text(source))).cells
    assert cell.source == f"# Exercise 3: decay\n\nWhy? {ANSWER_PROMPT}"


def test_solution_only_cells_outputs_and_counts_go_and_the_input_is_untouched():
    shown = code("print(1)", execution_count=4,
                 outputs=[nbformat.v4.new_output("stream", name="stdout", text="1\n")])
    solution = notebook(shown, code("answer = 42", metadata={"tags": ["solution-only"]}))
    exercise = strip_solutions(solution)
    assert [c.source for c in exercise.cells] == ["print(1)"]
    assert exercise.cells[0].outputs == [] and exercise.cells[0].execution_count is None
    assert len(solution.cells) == 2 and solution.cells[0].outputs  # a copy was changed, not the input


@pytest.mark.parametrize("source", [
    "def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n",  # never closed
    "def f(x):\n    # BEGIN SOLUTION\n    return 2 * x\n    # END SOLUTON\n",  # closed with a typo
    "def f(x):\n    return 2 * x\n    # END SOLUTION\n",  # closed, never opened
    "def f(x):\n    # BEGIN SOLUTION\n    return 1\n    # END SOLUTION\n    # BEGIN SOLUTION\n    return 2\n",
])
def test_an_unpaired_code_marker_is_an_error_naming_the_cell(source):
    with pytest.raises(UnpairedMarker, match=r"code cell 2 \(starting 'def f\(x\):'\)"):
        strip_solutions(notebook(text("# Solution 1"), code(source)))


@pytest.mark.parametrize("source", [
    "Why?\n\n<!-- BEGIN SOLUTION -->\nBecause it diverges.\n",
    "Why?\n\nBecause it diverges.\n<!-- END SOLUTION -->",
])
def test_an_unpaired_text_marker_is_an_error_naming_the_cell(source):
    with pytest.raises(UnpairedMarker, match=r"markdown cell 1 \(starting 'Why\?'\)"):
        strip_solutions(notebook(text(source)))


@pytest.mark.parametrize("solution", sorted((REPO / "solutions").glob("*.md")), ids=lambda p: p.stem)
def test_every_marked_answer_of_every_solution_is_gone_from_its_exercise(solution):
    """Counted line by line: every BEGIN has its END, and each pair is one stub in the exercise."""
    solved = jupytext.read(solution)
    exercise = strip_solutions(solved)
    begins = ends = 0
    answers: list[str] = []
    elsewhere: set[str] = set()  # lines the solution also has outside its answers
    for cell in solved.cells:
        if cell.cell_type != "code" or "solution-only" in cell.metadata.get("tags", []):
            continue
        inside = False
        for line in cell.source.splitlines():
            marker = line.strip()
            if marker.startswith("# BEGIN SOLUTION"):
                assert not inside, f"{solution.name}: a BEGIN inside an answer"
                begins, inside = begins + 1, True
            elif marker.startswith("# END SOLUTION"):
                assert inside, f"{solution.name}: an END without a BEGIN"
                ends, inside = ends + 1, False
            elif inside and marker and not marker.startswith("#"):
                answers.append(line)
            elif not inside:
                elsewhere.add(line)
        assert not inside, f"{solution.name}: an answer is never closed"
    stripped = "\n".join(c.source for c in exercise.cells if c.cell_type == "code")
    assert begins == ends == stripped.count("# YOUR CODE HERE\n") > 0
    assert "SOLUTION" not in stripped.replace("# Solution", "")
    exercise_lines = set(stripped.splitlines())
    leaked = [line for line in answers if line in exercise_lines and line not in elsewhere]
    assert not leaked, f"{solution.name}: answer lines left in the exercise: {leaked[:3]}"
