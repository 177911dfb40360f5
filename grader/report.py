"""What the grader writes: results.json (Gradescope's schema), feedback.md, gradebook.csv."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from . import __version__
from .grade import SubmissionResult, TaskResult

CONFINEMENT_WARNING = ("Note for the instructor: the sandbox could not confine file and network "
                       "access on this machine ({why}); see the instructors' appendix.")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
    os.replace(tmp, path)


def _counts(task: TaskResult) -> str:
    parts = []
    if task.public_total:
        parts.append(f"{task.public_passed} of {task.public_total} public cases")
    if task.hidden_total:
        parts.append(f"{task.hidden_passed} of {task.hidden_total} hidden cases")
    return " and ".join(parts) + " pass" if parts else "no cases"


def task_output(task: TaskResult) -> str:
    lines = [_counts(task) + "."]
    lines += task.lines
    if not task.passed and task.hint:
        lines.append(f"Hint: {task.hint}")
    return "\n".join(lines)


def results_json(result: SubmissionResult) -> dict:
    tests = []
    for task in result.tasks:
        tests.append({
            "name": task.name,
            "score": task.points,
            "max_score": task.max_points,
            "status": "passed" if task.passed else "failed",
            "output": result.malformed and f"Not graded: {result.malformed}" or task_output(task),
            "visibility": "visible",
        })
    summary = summary_text(result)
    return {
        "score": result.score,
        "execution_time": round(result.total_seconds, 2),
        "output": summary,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
        "extra_data": {
            "exercise": result.exercise.slug,
            "seed": result.seed,
            "submission": result.path.name,
            "malformed": result.malformed,
            "confined": result.confinement is None and result.malformed is None,
            "seconds": {**result.timings.as_dict(), "total": round(result.total_seconds, 3)},
            "grader_version": __version__,
        },
    }


def summary_text(result: SubmissionResult) -> str:
    total = result.exercise.points
    if result.malformed:
        return f"This submission could not be graded: {result.malformed}. Score 0 of {total:g}."
    lines = [f"Score {result.score:g} of {total:g}."]
    lines += result.notes
    return "\n".join(lines)


def feedback_markdown(result: SubmissionResult) -> str:
    exercise = result.exercise
    lines = [f"# Feedback: {exercise.title}", "",
             f"Submission `{result.path.name}`, exercise `{exercise.slug}`.", ""]
    if result.malformed:
        lines += [f"**Not graded.** {result.malformed}.", "",
                  f"Score: **0 of {exercise.points:g}**.", ""]
        return "\n".join(lines)
    lines += [f"Score: **{result.score:g} of {exercise.points:g}**.", ""]
    if result.notes:
        lines += ["## While running your notebook", ""]
        lines += [f"- {n}" for n in result.notes]
        lines.append("")
    lines += ["## Tasks", ""]
    for task in result.tasks:
        mark = "passed" if task.passed else "not yet"
        lines += [f"### `{task.name}`: {task.points:g} of {task.max_points:g} ({mark})", ""]
        lines += [f"- {line}" for line in task_output(task).splitlines()]
        lines.append("")
    lines += ["Hidden cases use inputs drawn for this grading run; they are not shown here.", ""]
    if result.confinement:
        lines += [CONFINEMENT_WARNING.format(why=result.confinement), ""]
    return "\n".join(lines)


def write_submission(out: Path, result: SubmissionResult) -> None:
    folder = out / result.name
    if folder.exists():
        shutil.rmtree(folder)  # nothing from an earlier run (or from anyone else) survives
    write_atomic(folder / "results.json", json.dumps(results_json(result), indent=2) + "\n")
    write_atomic(folder / "feedback.md", feedback_markdown(result))


def write_gradebook(out: Path, results: list[SubmissionResult]) -> Path:
    path = out / "gradebook.csv"
    if not results:
        write_atomic(path, "submission\n")
        return path
    tasks = [t.name for t in results[0].tasks]
    rows = [["submission", "file", *tasks, "total", "max", "status"]]
    for r in results:
        status = "malformed: " + r.malformed if r.malformed else ("; ".join(r.notes[:2]) or "graded")
        rows.append([r.name, str(r.path), *[f"{t.points:g}" for t in r.tasks],
                     f"{r.score:g}", f"{r.exercise.points:g}", status])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    write_atomic(path, buffer.getvalue())
    return path
