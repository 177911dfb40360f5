"""Written answers, from the command line: grade, fill in the points sheet, merge, read the reports."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course.exercise import ANSWER_PROMPT
from grader.spec import exercises
from tests.helpers import REPO

SLUG = "01_parameters_vs_hyperparameters"
EXERCISE = exercises()[SLUG]
[QUESTION] = EXERCISE.written
ANSWER = "Only settings close to the best can win by luck. ``` A fence that must not close the review's."


def grader(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          cwd=REPO, timeout=900)


def answered(text: str) -> nbformat.NotebookNode:
    notebook = nbformat.read(REPO / "exercises" / f"{SLUG}.ipynb", as_version=4)
    [cell] = [c for c in notebook.cells if c.cell_type == "markdown" and ANSWER_PROMPT in c.source]
    cell.source = cell.source.replace(ANSWER_PROMPT, text)
    return notebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("class")
    nbformat.write(answered(ANSWER), folder / "ann_answers.ipynb")
    nbformat.write(answered(ANSWER_PROMPT), folder / "ben_leaves_it.ipynb")
    (folder / "cid_solution.ipynb").write_bytes((REPO / "solutions" / f"{SLUG}.ipynb").read_bytes())
    out = tmp_path_factory.mktemp("out")
    process = grader("grade", SLUG, str(folder), "--out", str(out), "--seed", "3")
    assert process.returncode == 0, process.stderr
    assert f"python -m grader merge {out}" in process.stdout
    return out


def sheet(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "written" / "points.csv").open()))


def fill(out: Path, points: dict[str, str], comment: str = "") -> None:
    rows = sheet(out)
    for row in rows:
        row["points"], row["comment"] = points.get(row["submission"], ""), comment
    with (out / "written" / "points.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_review_file_has_the_model_answer_and_every_answer(graded):
    review = (graded / "written" / f"{QUESTION.key}.md").read_text()
    assert "## Model answer" in review and "Only settings that are close to the best" in review
    assert ANSWER in review and "*(no answer)*" in review  # ben left the prompt
    assert review.index("## ann_answers") < review.index("## ben_leaves_it") < review.index("## cid_solution")
    # the learner's backticks cannot close the fence around their answer
    assert "````text\n" + ANSWER + "\n````" in review
    rows = sheet(graded)
    assert [(r["submission"], r["question"], r["max_points"], r["points"]) for r in rows] == [
        (name, QUESTION.key, "2", "") for name in ("ann_answers", "ben_leaves_it", "cid_solution")]


def test_merge_adds_the_points_everywhere_and_twice_is_once(graded):
    fill(graded, {"ann_answers": "1.5", "cid_solution": "2"}, comment="Say why the others cannot win.")
    for _ in range(2):  # merging again replaces, never adds
        process = grader("merge", str(graded))
        assert process.returncode == 0, process.stderr
        assert "merged 2 written marks" in process.stdout and "1 still without points" in process.stdout
    ann = json.loads((graded / "ann_answers" / "results.json").read_text())
    written = [t for t in ann["tests"] if "written" in t.get("tags", [])]
    assert written == [{"name": f"written: {QUESTION.key}", "score": 1.5, "max_score": 2, "status": "failed",
                        "output": "Say why the others cannot win.", "visibility": "visible", "tags": ["written"]}]
    auto = sum(t["score"] for t in ann["tests"] if t not in written)
    assert ann["score"] == auto + 1.5
    feedback = (graded / "ann_answers" / "feedback.md").read_text()
    assert feedback.count("## Written answers") == 1 and f"`{QUESTION.key}`: 1.5 of 2" in feedback
    assert f"Score: **{auto + 1.5:g} of 12**" in feedback
    rows = {r["submission"]: r for r in csv.DictReader((graded / "gradebook.csv").open())}
    assert rows["cid_solution"][f"written: {QUESTION.key}"] == "2"
    assert rows["cid_solution"]["total"] == "12" and rows["cid_solution"]["max"] == "12"
    assert rows["ben_leaves_it"][f"written: {QUESTION.key}"] == "" and rows["ben_leaves_it"]["max"] == "12"
    # grading again into the same folder rewrites the sheet but keeps the marks already given
    from grader.written import _write_sheet

    _write_sheet(graded / "written" / "points.csv", EXERCISE, ["ann_answers", "ben_leaves_it", "dee_late"])
    assert [(r["submission"], r["points"]) for r in sheet(graded)] == [
        ("ann_answers", "1.5"), ("ben_leaves_it", ""), ("dee_late", "")]


@pytest.mark.parametrize("points, says", [("abc", "must be a number"), ("2.5", "between 0 and 2"),
                                          ("nan", "between 0 and 2")])
def test_a_bad_mark_is_refused_with_its_line(graded, points, says):
    fill(graded, {"ben_leaves_it": points})
    process = grader("merge", str(graded))
    assert process.returncode == 2 and says in process.stderr and "line 3" in process.stderr
    assert "Traceback" not in process.stderr


def test_merge_needs_a_graded_folder(tmp_path):
    process = grader("merge", str(tmp_path))
    assert process.returncode == 2 and "is it a `grade --out` folder?" in process.stderr


def test_every_exercise_has_as_many_written_questions_as_answer_blocks():
    from grader.reference import solution_path
    from grader.written import answer_cells

    for exercise in exercises().values():
        assert len(answer_cells(exercise, solution_path(exercise))) == len(exercise.written) >= 1
        # the instructors' page says "worth 2 points on top of the tasks' 10", and so does the exercise
        assert [q.points for q in exercise.written] == [2] and exercise.points == 10
        text = " ".join((REPO / "exercises" / f"{exercise.slug}.md").read_text().split())
        assert "the question at the end is worth 2 points, which your instructor gives by hand" in text

