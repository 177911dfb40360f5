"""Command line: `python -m grader grade ...` and `python -m grader list`.

Exit status: 0 when grading worked (whatever the scores), 2 for a usage error (unknown exercise,
missing submission, unwritable --out), 3 when the solution notebook itself fails.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .kernel import Limits, become_subreaper, sweep_orphans
from .spec import exercises


def _progress(done: int, total: int) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    sys.stderr.write(f"\rgrading [{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
    if done == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description="The course's autograder.")
    sub = parser.add_subparsers(dest="command", required=True)
    grade = sub.add_parser("grade", help="grade submitted notebooks of one exercise")
    grade.add_argument("exercise", help="the exercise slug, e.g. 01_parameters_vs_hyperparameters")
    grade.add_argument("submissions", nargs="+", type=Path, help=".ipynb files or folders of them")
    grade.add_argument("--out", type=Path, required=True, help="folder for results and gradebook.csv")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    _add_limits(grade)
    gradescope = sub.add_parser("gradescope", help="grade the one submission of a Gradescope run")
    gradescope.add_argument("exercise")
    gradescope.add_argument("--submission-dir", type=Path, default=Path("/autograder/submission"))
    gradescope.add_argument("--results", type=Path, default=Path("/autograder/results/results.json"))
    _add_limits(gradescope)
    bundle = sub.add_parser("bundle", help="write the autograder zip to upload to Gradescope")
    bundle.add_argument("exercise")
    bundle.add_argument("--out", type=Path, required=True, help="the zip file to write")
    sub.add_parser("list", help="show the exercises, their tasks and points")
    return parser


def _add_limits(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per cell (default 60)")
    parser.add_argument("--total-timeout", type=float, default=None,
                        help="seconds per submission (default 5 x --timeout)")
    parser.add_argument("--memory", type=int, default=2048, help="MB of memory per submission (default 2048)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the hidden inputs (default: random, recorded)")
    parser.add_argument("--solutions", type=Path, default=None,
                        help="folder of solution notebooks (default: the repository's)")
    parser.add_argument("--require-confinement", action="store_true",
                        help="refuse to grade where the Landlock sandbox is unavailable")


def _limits(args: argparse.Namespace) -> Limits | str:
    """The limits the options ask for, or what is wrong with them."""
    if getattr(args, "jobs", 1) < 1 or args.timeout <= 0 or args.memory < 256:
        return "--jobs must be at least 1, --timeout positive, --memory at least 256"
    return Limits(cell_seconds=args.timeout, total_seconds=args.total_timeout or 5 * args.timeout,
                  memory_mb=args.memory, require_confinement=args.require_confinement)


def _list() -> int:
    for slug, exercise in exercises().items():
        print(f"{slug}  ({exercise.points:g} points)  {exercise.title}")
        for task in exercise.tasks:
            print(f"    {task.name:<28} {task.points:g} points, "
                  f"{len(task.public)} public cases + hidden cases")
    return 0


def _usage_error(message: str) -> int:
    print(f"python -m grader: error: {message}", file=sys.stderr)
    return 2


def _grade(args: argparse.Namespace) -> int:
    from .grade import GraderError, grade_batch
    from .notebook import find_submissions
    from .report import write_gradebook, write_submission

    known = exercises()
    if args.exercise not in known:
        return _usage_error(f"unknown exercise {args.exercise!r}; known: {', '.join(known)}")
    missing = [str(p) for p in args.submissions if not p.exists()]
    if missing:
        return _usage_error(f"no such file or folder: {', '.join(missing)}")
    limits = _limits(args)
    if isinstance(limits, str):
        return _usage_error(limits)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        probe = args.out / ".grader-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        return _usage_error(f"cannot write to --out {args.out}: {exc.strerror or exc}")
    paths = find_submissions(args.submissions)
    out = args.out.resolve()
    paths = [p for p in paths if out not in p.parents]  # never grade our own output
    if not paths:
        return _usage_error("no .ipynb files found in the submissions given")
    become_subreaper()
    try:
        results = grade_batch(known[args.exercise], paths, seed=args.seed, jobs=args.jobs, limits=limits,
                              solutions_dir=args.solutions,
                              progress=_progress if sys.stderr.isatty() else None)
    except GraderError as exc:
        print(f"python -m grader: cannot grade: {exc}", file=sys.stderr)
        return 3
    finally:
        sweep_orphans(keep_launchers=False)
    for result in results:
        write_submission(out, result)
    gradebook = write_gradebook(out, results)
    for result in results:
        flag = f"  NOT GRADED: {result.malformed}" if result.malformed else ""
        print(f"{result.name:<30} {result.score:g}/{result.exercise.points:g}{flag}")
    confined = {r.confinement for r in results if r.confinement}
    if confined:
        print(f"warning: submissions ran without file confinement: {confined.pop()}", file=sys.stderr)
    print(f"seed {results[0].seed}; gradebook: {gradebook}")
    return 0


def _gradescope(args: argparse.Namespace) -> int:
    """One submission, one results.json where Gradescope looks for it."""
    import json

    from .gradescope import pick_notebook
    from .grade import GraderError, grade_batch
    from .report import results_json, write_atomic

    known = exercises()
    if args.exercise not in known:
        return _usage_error(f"unknown exercise {args.exercise!r}; known: {', '.join(known)}")
    limits = _limits(args)
    if isinstance(limits, str):
        return _usage_error(limits)
    notebook, note = pick_notebook(args.submission_dir, args.exercise)
    if notebook is None:
        data = {"score": 0.0, "output": note, "tests": []}
    else:
        become_subreaper()
        try:
            result = grade_batch(known[args.exercise], [notebook], seed=args.seed, limits=limits,
                                 solutions_dir=args.solutions)[0]
        except GraderError as exc:
            print(f"python -m grader: cannot grade: {exc}", file=sys.stderr)
            return 3
        finally:
            sweep_orphans(keep_launchers=False)
        if note:
            result.notes.insert(0, note)
        data = results_json(result)
    write_atomic(args.results, json.dumps(data, indent=2) + "\n")
    print(f"score {data['score']:g}; results: {args.results}")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from .gradescope import bundle
    from .grade import REPO, solution_path

    known = exercises()
    if args.exercise not in known:
        return _usage_error(f"unknown exercise {args.exercise!r}; known: {', '.join(known)}")
    if not solution_path(known[args.exercise]).exists():
        return _usage_error(f"no solution notebook for {args.exercise} in {REPO / 'solutions'}")
    names = bundle(args.exercise, REPO, args.out)
    print(f"{args.out}: {len(names)} files; upload it as the assignment's autograder")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    commands = {"list": lambda a: _list(), "grade": _grade, "gradescope": _gradescope, "bundle": _bundle}
    return commands[args.command](args)
