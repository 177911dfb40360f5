"""Written answers, graded by hand: collected for review after `grade`, folded back by `merge`.

Each exercise ends its "Try it" sections with a question. In the solution notebook the answer
sits between `<!-- BEGIN SOLUTION -->` markers; the exercise shows a prompt in its place, and the
learner writes in that markdown cell. The spec lists the questions in notebook order
(`Exercise.written`) with their points.

`grade` writes, into `--out/written/`:

- one review file per question, `<key>.md`: the question, the model answer, then every
  submission's text, each in a fence that its own text cannot close;
- `points.csv`, one row per submission and question, with empty `points` and `comment` for the
  instructor. A later `grade` into the same folder keeps the rows already filled in.

`merge OUT` reads the sheet back and adds the points to each `results.json` (as tests tagged
"written", in Gradescope's schema), to `feedback.md` and to `gradebook.csv`. Merging again
replaces what an earlier merge added, so the sheet can be corrected and merged any number of
times.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from .notebook import Malformed, read_submission
from .report import LINE_CHARS, write_atomic
from .spec import Exercise, Question, exercises
from .verdict import clip

FOLDER = "written"
SHEET = "points.csv"
SHEET_COLUMNS = ["submission", "question", "max_points", "points", "comment"]
TAG = "written"
ANSWER_CHARS = 20_000  # of one answer, in the review file
COMMENT_CHARS = 2_000
FEEDBACK_HEADING = "## Written answers"
PROMPT_MARK = "**Your answer:**"  # the start of course.exercise.ANSWER_PROMPT, kept by most learners


class SheetError(Exception):
    """The points sheet cannot be merged; the message names the row and what to fix."""


@dataclass(frozen=True)
class AnswerCell:
    question: Question
    asked: str  # the text before the answer: the question, as the learner's cell still shows it
    model: str  # the solution's answer


def _markdown_sources(notebook: dict) -> list[str]:
    sources = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "markdown":
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else source)
    return sources


def answer_cells(exercise: Exercise, solution: Path) -> list[AnswerCell]:
    """The exercise's written questions with their text and model answers, from the solution."""
    from course.exercise import TEXT_BLOCK

    found = []
    for source in _markdown_sources(json.loads(solution.read_text(encoding="utf-8"))):
        for match in TEXT_BLOCK.finditer(source):
            found.append((source[:match.start()].strip(), match.group(1).strip()))
    if len(found) != len(exercise.written):
        raise ValueError(f"exercise {exercise.slug} lists {len(exercise.written)} written questions, "
                         f"but its solution has {len(found)} answer blocks")
    return [AnswerCell(q, asked, model) for q, (asked, model) in zip(exercise.written, found)]


def _normal(text: str) -> str:
    return " ".join(text.split())


def find_answer(cell: AnswerCell, index: int, text_cells: tuple[str, ...]) -> str | None:
    """The learner's answer to *cell*: the text after the question in the cell that holds it,
    or in the index-th cell that still shows the answer prompt; None when neither is there."""
    # the question's last words identify its cell, whatever the line breaks
    words = _normal(cell.asked)[-120:].split()
    tail = re.compile(r"\s+".join(map(re.escape, words))) if words else None
    for source in text_cells:
        found = tail.search(source) if tail else None
        if found:
            return _clean(source[found.end():])
    prompted = [s for s in text_cells if PROMPT_MARK in s]
    return _clean(prompted[index]) if index < len(prompted) else None


def _clean(answer: str) -> str:
    from course.exercise import ANSWER_PROMPT

    return answer.replace(ANSWER_PROMPT, "").strip()


def _fenced(text: str) -> str:
    """*text* in a code fence longer than any run of backticks inside it."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"


def write_review(out: Path, exercise: Exercise, solution: Path,
                 graded: list[tuple[str, Path]]) -> list[Path]:
    """Review files and the points sheet for the (name, path) submissions that were graded."""
    if not exercise.written:
        return []
    cells = answer_cells(exercise, solution)
    answers: dict[str, list[str | None]] = {}
    for name, path in graded:
        try:
            text_cells = read_submission(path).text_cells
        except (Malformed, OSError, ValueError):
            text_cells = ()
        answers[name] = [find_answer(cell, i, text_cells) for i, cell in enumerate(cells)]
    folder = out / FOLDER
    written = []
    for i, cell in enumerate(cells):
        q = cell.question
        lines = [f"# {exercise.title}: written question `{q.key}` ({q.points:g} points)", "",
                 "## The question", "", cell.asked, "", "## Model answer", "", cell.model, ""]
        for name, all_theirs in answers.items():
            theirs = all_theirs[i]
            lines += [f"## {name}", ""]
            if not theirs:
                lines += ["*(no answer)*" if theirs is not None else "*(the answer cell was not found)*", ""]
            else:
                clipped = theirs[:ANSWER_CHARS] + (" [...]" if len(theirs) > ANSWER_CHARS else "")
                lines += [_fenced(clipped), ""]
        path = folder / f"{q.key}.md"
        write_atomic(path, "\n".join(lines))
        written.append(path)
    written.append(_write_sheet(folder / SHEET, exercise, list(answers)))
    return written


def _read_sheet(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet may add a byte-order mark
    except (OSError, UnicodeDecodeError) as exc:
        raise SheetError(f"{path} cannot be read: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = set(SHEET_COLUMNS) - set(reader.fieldnames or [])
    if missing:
        raise SheetError(f"{path} lacks the columns {', '.join(sorted(missing))}; "
                         f"its first line must be: {','.join(SHEET_COLUMNS)}")
    return list(reader)


def _write_sheet(path: Path, exercise: Exercise, names: list[str]) -> Path:
    """One row per submission and question; rows already filled in are kept as they are."""
    try:
        kept = {(r["submission"], r["question"]): r for r in _read_sheet(path)}
    except SheetError:
        kept = {}  # unreadable: the old file is replaced, as a fresh grading run would
    rows = [SHEET_COLUMNS]
    for name in names:
        for q in exercise.written:
            old = kept.get((name, q.key), {})
            rows.append([name, q.key, f"{q.points:g}", old.get("points", ""), old.get("comment", "")])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    write_atomic(path, buffer.getvalue())
    return path


@dataclass(frozen=True)
class Mark:
    points: float
    comment: str


def read_marks(out: Path, exercise: Exercise) -> tuple[dict[str, dict[str, Mark]], int]:
    """The filled rows of the sheet, by submission and question, and how many are still empty."""
    path = out / FOLDER / SHEET
    if not path.exists():
        raise SheetError(f"there is no points sheet at {path}: run `grade` into {out} first")
    maximum = {q.key: q.points for q in exercise.written}
    marks: dict[str, dict[str, Mark]] = {}
    empty = 0
    for line, row in enumerate(_read_sheet(path), start=2):
        name, key, given = row["submission"] or "", row["question"] or "", (row["points"] or "").strip()
        where = f"{path}, line {line}"
        if key not in maximum:
            raise SheetError(f"{where}: exercise {exercise.slug} has no written question {key!r} "
                             f"(it has {', '.join(maximum) or 'none'})")
        if not (out / name / "results.json").is_file():
            raise SheetError(f"{where}: there is no graded submission {name!r} in {out}")
        if not given:
            empty += 1
            continue
        try:
            points = float(given)
        except ValueError:
            raise SheetError(f"{where}: points must be a number, not {given!r}") from None
        if not (math.isfinite(points) and 0 <= points <= maximum[key]):
            raise SheetError(f"{where}: points must be between 0 and {maximum[key]:g}, not {given}")
        if key in marks.get(name, {}):
            raise SheetError(f"{where}: {name} has a second row for question {key}")
        marks.setdefault(name, {})[key] = Mark(points, (row["comment"] or "").strip()[:COMMENT_CHARS])
    return marks, empty


def _exercise_of(out: Path) -> Exercise:
    for results in sorted(out.glob("*/results.json")):
        try:
            slug = json.loads(results.read_text(encoding="utf-8"))["extra_data"]["exercise"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if slug in exercises():
            return exercises()[slug]
    raise SheetError(f"{out} holds no results.json of a known exercise: is it a `grade --out` folder?")


# ---- merging the points into the reports that `grade` wrote ---------------------------------------

def _score_line(auto: float, exercise: Exercise, written: dict[str, float]) -> str:
    top = sum(q.points for q in exercise.written)
    total = auto + sum(written.values())
    return (f"Score: **{total:g} of {exercise.points + top:g}**: {auto:g} of {exercise.points:g} for the "
            f"tasks, {sum(written.values()):g} of {top:g} for the written answers.")


def _merge_results(path: Path, exercise: Exercise, marks: dict[str, Mark]) -> float:
    """Replace the written tests of one results.json; returns the tasks' own score."""
    data = json.loads(path.read_text(encoding="utf-8"))
    tests = [t for t in data["tests"] if TAG not in t.get("tags", [])]
    auto = round(sum(t["score"] for t in tests), 4)
    for q in exercise.written:
        if q.key in marks:
            mark = marks[q.key]
            tests.append({"name": f"written: {q.key}", "score": mark.points, "max_score": q.points,
                          "status": "passed" if mark.points == q.points else "failed",
                          "output": clip(mark.comment, LINE_CHARS), "visibility": "visible", "tags": [TAG]})
    data["tests"] = tests
    data["score"] = round(auto + sum(m.points for m in marks.values()), 4)
    data["extra_data"]["written"] = {key: mark.points for key, mark in marks.items()}
    write_atomic(path, json.dumps(data, indent=2) + "\n")
    return auto


def _merge_feedback(path: Path, exercise: Exercise, auto: float, marks: dict[str, Mark]) -> None:
    text = path.read_text(encoding="utf-8").split(f"\n{FEEDBACK_HEADING}\n")[0].rstrip("\n") + "\n"
    score = (_score_line(auto, exercise, {k: m.points for k, m in marks.items()}) if marks
             else f"Score: **{auto:g} of {exercise.points:g}**.")
    text = re.sub(r"^Score: \*\*.*$", lambda _: score, text, count=1, flags=re.M)
    if not marks:
        write_atomic(path, text)
        return
    lines = ["", FEEDBACK_HEADING, ""]
    for q in exercise.written:
        if q.key in marks:
            lines += [f"### `{q.key}`: {marks[q.key].points:g} of {q.points:g}", ""]
            if marks[q.key].comment:
                lines += [clip(marks[q.key].comment, LINE_CHARS), ""]
    write_atomic(path, text + "\n".join(lines))


def _merge_gradebook(path: Path, exercise: Exercise, marks: dict[str, dict[str, Mark]]) -> None:
    rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
    header, body = rows[0], rows[1:]
    tasks = [t.name for t in exercise.tasks]
    columns = [f"written: {q.key}" for q in exercise.written]
    keep = [i for i, name in enumerate(header) if name not in columns]
    header = [header[i] for i in keep]
    at = header.index("total")
    out = [header[:at] + columns + header[at:]]
    for row in body:
        row = [row[i] for i in keep]
        theirs = marks.get(row[0], {})
        given = [f"{theirs[q.key].points:g}" if q.key in theirs else "" for q in exercise.written]
        auto = sum(float(row[header.index(t)] or 0) for t in tasks)
        row[header.index("total")] = f"{auto + sum(m.points for m in theirs.values()):g}"
        row[header.index("max")] = f"{exercise.points + sum(q.points for q in exercise.written):g}"
        out.append(row[:at] + given + row[at:])
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(out)
    write_atomic(path, buffer.getvalue())


def merge_written(out: Path, exercise: Exercise, marks: dict[str, dict[str, Mark]]) -> None:
    """Fold hand-given points into every report of a graded folder; merging twice changes nothing."""
    for results in sorted(out.glob("*/results.json")):
        name = results.parent.name
        theirs = marks.get(name, {})
        auto = _merge_results(results, exercise, theirs)
        if (results.parent / "feedback.md").is_file():
            _merge_feedback(results.parent / "feedback.md", exercise, auto, theirs)
    if (out / "gradebook.csv").is_file():
        _merge_gradebook(out / "gradebook.csv", exercise, marks)


def merge(out: Path) -> tuple[int, int]:
    """Fold the sheet's points into every report; returns (marks merged, rows still empty)."""
    exercise = _exercise_of(out)
    marks, empty = read_marks(out, exercise)
    merge_written(out, exercise, marks)
    return sum(len(m) for m in marks.values()), empty
