"""What the grader writes: results.json (Gradescope's schema), feedback.md, gradebook.csv.

Every file is written to a temporary name and renamed, so an interrupted run never leaves half
of one. Every line that reaches a report is clipped here once more, whatever produced it, and
file names are shown in a form that can be written whatever bytes they hold.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

from . import __version__
from .grade import SubmissionResult, TaskResult, clip
from .notebook import shown

CONFINEMENT_WARNING = ("Note for the instructor: this submission ran without some of the sandbox's "
                       "guarantees on this machine ({why}); see the instructors' appendix.")
LINE_CHARS = 500  # any one line of feedback
MAX_LINES = 50  # lines per task or per list of notes


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


def _lines(lines: list[str]) -> list[str]:
    kept = [clip(line, LINE_CHARS) for line in lines[:MAX_LINES]]
    if len(lines) > MAX_LINES:
        kept.append(f"... and {len(lines) - MAX_LINES} more lines.")
    return kept


def task_output(task: TaskResult) -> str:
    lines = [_counts(task) + "."]
    lines += _lines(task.lines)
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
            "output": result.malformed and f"Not graded: {clip(result.malformed, LINE_CHARS)}" or task_output(task),
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
            "submission": shown(result.path.name),
            "malformed": result.malformed and clip(result.malformed, LINE_CHARS),
            "confined": result.confinement is None and result.malformed is None,
            "missing_guarantees": result.confinement and clip(result.confinement, 2000),
            "seconds": {**result.timings.as_dict(), "total": round(result.total_seconds, 3)},
            "grader_version": __version__,
        },
    }


def summary_text(result: SubmissionResult) -> str:
    total = result.exercise.points
    if result.malformed:
        return f"This submission could not be graded: {clip(result.malformed, LINE_CHARS)}. Score 0 of {total:g}."
    lines = [f"Score {result.score:g} of {total:g}."]
    lines += _lines(result.notes)
    return "\n".join(lines)


def feedback_markdown(result: SubmissionResult) -> str:
    exercise = result.exercise
    lines = [f"# Feedback: {exercise.title}", "",
             f"Submission `{clip(shown(result.path.name), 200)}`, exercise `{exercise.slug}`.", ""]
    if result.malformed:
        lines += [f"**Not graded.** {clip(result.malformed, LINE_CHARS)}.", "",
                  f"Score: **0 of {exercise.points:g}**.", ""]
        return "\n".join(lines)
    lines += [f"Score: **{result.score:g} of {exercise.points:g}**.", ""]
    if result.notes:
        lines += ["## While running your notebook", ""]
        lines += [f"- {n}" for n in _lines(result.notes)]
        lines.append("")
    lines += ["## Tasks", ""]
    for task in result.tasks:
        mark = "passed" if task.passed else "not yet"
        lines += [f"### `{task.name}`: {task.points:g} of {task.max_points:g} ({mark})", ""]
        lines += [f"- {line}" for line in task_output(task).splitlines()]
        lines.append("")
    lines += ["Hidden cases use inputs drawn for this grading run; they are not shown here.", ""]
    if result.confinement:
        lines += [CONFINEMENT_WARNING.format(why=clip(result.confinement, 2000)), ""]
    return "\n".join(lines)


def write_submission(out: Path, result: SubmissionResult) -> None:
    folder = out / result.name
    if folder.exists():
        shutil.rmtree(folder)  # nothing from an earlier run (or from anyone else) survives
    write_atomic(folder / "results.json", json.dumps(results_json(result), indent=2) + "\n")
    write_atomic(folder / "feedback.md", feedback_markdown(result))


def write_gradebook(out: Path, results: list[SubmissionResult],
                    unwritten: dict[str, str] | None = None) -> Path:
    """The class's table; *unwritten* names the submissions whose reports could not be written."""
    unwritten = unwritten or {}
    path = out / "gradebook.csv"
    if not results:
        write_atomic(path, "submission\n")
        return path
    tasks = [t.name for t in results[0].tasks]
    rows = [["submission", "file", *tasks, "total", "max", "status"]]
    for r in results:
        status = "malformed: " + r.malformed if r.malformed else ("; ".join(r.notes[:2]) or "graded")
        if r.name in unwritten:
            status = f"report not written ({unwritten[r.name]}); {status}"
        rows.append([r.name, shown(r.path), *[f"{t.points:g}" for t in r.tasks],
                     f"{r.score:g}", f"{r.exercise.points:g}", clip(status, LINE_CHARS)])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    write_atomic(path, buffer.getvalue())
    return path
