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
from .results import SubmissionResult, TaskResult
from .verdict import clip
from .notebook import shown
from .spec import Exercise

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


def results_json(result: SubmissionResult, digest: str | None = None) -> dict:
    """Gradescope's results.json; *digest*, the notebook's SHA-256, lets `grade --resume` skip it."""
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
            "notebook_sha256": digest,
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


def write_submission(out: Path, result: SubmissionResult, digest: str | None = None) -> None:
    folder = out / result.name
    if folder.exists():
        shutil.rmtree(folder)  # nothing from an earlier run (or from anyone else) survives
    write_atomic(folder / "results.json", json.dumps(results_json(result, digest), indent=2) + "\n")
    write_atomic(folder / "feedback.md", feedback_markdown(result))


def _report_row(name: str, data: dict, exercise: Exercise) -> list[str]:
    """A gradebook row from a results.json of an earlier run (`grade --resume` kept it)."""
    scores = {t.get("name"): t.get("score", 0) for t in data.get("tests", [])}
    extra = data.get("extra_data", {})
    notes = str(data.get("output", "")).splitlines()[1:3]
    status = "malformed: " + str(extra["malformed"]) if extra.get("malformed") else ("; ".join(notes) or "graded")
    auto = sum(float(scores.get(t.name, 0)) for t in exercise.tasks)
    return [name, str(extra.get("submission", "")), *[f"{float(scores.get(t.name, 0)):g}" for t in exercise.tasks],
            f"{auto:g}", f"{exercise.points:g}", clip(f"{status} (kept from an earlier run)", LINE_CHARS)]


def write_gradebook(out: Path, results: list[SubmissionResult],
                    unwritten: dict[str, str] | None = None,
                    kept: dict[str, dict] | None = None, order: list[str] | None = None) -> Path:
    """The class's table; *unwritten* names the submissions whose reports could not be written,
    *kept* holds the results.json of submissions an earlier run graded, and *order* the names."""
    unwritten, kept = unwritten or {}, kept or {}
    path = out / "gradebook.csv"
    if not results and not kept:
        write_atomic(path, "submission\n")
        return path
    exercise = results[0].exercise if results else _exercise_of_reports(kept)
    tasks = [t.name for t in exercise.tasks]
    rows_by_name: dict[str, list[str]] = {name: _report_row(name, data, exercise) for name, data in kept.items()}
    for r in results:
        status = "malformed: " + r.malformed if r.malformed else ("; ".join(r.notes[:2]) or "graded")
        if r.name in unwritten:
            status = f"report not written ({unwritten[r.name]}); {status}"
        rows_by_name[r.name] = [r.name, shown(r.path), *[f"{t.points:g}" for t in r.tasks],
                                f"{r.score:g}", f"{r.exercise.points:g}", clip(status, LINE_CHARS)]
    rows = [["submission", "file", *tasks, "total", "max", "status"]]
    rows += [rows_by_name[name] for name in (order or list(rows_by_name)) if name in rows_by_name]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    write_atomic(path, buffer.getvalue())
    return path


def _exercise_of_reports(reports: dict[str, dict]) -> Exercise:
    from .spec import exercises

    return exercises()[next(iter(reports.values()))["extra_data"]["exercise"]]
