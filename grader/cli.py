"""Command line: `python -m grader grade|gradescope|bundle|list|check-sandbox ...`.

Exit status: 0 when grading worked (whatever the scores), 2 for a usage error (unknown exercise,
missing submission, unwritable --out), 3 when the solution notebook itself fails, 4 when
--require-confinement finds an isolation layer missing on this machine (check-sandbox too), 1
when a submission's report could not be written (the gradebook names it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

from .kernel import Limits, become_subreaper, sweep_orphans
from .spec import Exercise, exercises


class Progress:
    """The progress line: how far, how fast, and about how long is left."""

    def __init__(self) -> None:
        self.began = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        width = 30
        filled = int(width * done / total) if total else width
        line = f"\rgrading [{'#' * filled}{'.' * (width - filled)}] {done}/{total}"
        seconds = time.monotonic() - self.began
        if done and seconds > 0:
            rate = done / seconds
            left = (total - done) / rate
            line += f", {rate * 60:.1f} a minute, about {_duration(left)} left"
        sys.stderr.write(line + "   ")
        if done == total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds + 0.5), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else (f"{minutes} min {secs:02d} s" if minutes else f"{secs} s")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m grader", description="The course's autograder.")
    sub = parser.add_subparsers(dest="command", required=True)
    grade = sub.add_parser("grade", help="grade submitted notebooks of one exercise")
    grade.add_argument("exercise", help="the exercise slug, e.g. 01_parameters_vs_hyperparameters")
    grade.add_argument("submissions", nargs="+", type=Path, help=".ipynb files or folders of them")
    grade.add_argument("--out", type=Path, required=True, help="folder for results and gradebook.csv")
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    grade.add_argument("--resume", action="store_true",
                       help="skip submissions whose report in --out is for the same notebook and seed")
    grade.add_argument("--shard", metavar="K/N", default=None,
                       help="grade only the K-th of N slices of the class (for N machines or an array job)")
    _add_limits(grade)
    gradescope = sub.add_parser("gradescope", help="grade the one submission of a Gradescope run")
    gradescope.add_argument("exercise")
    gradescope.add_argument("--submission-dir", type=Path, default=Path("/autograder/submission"))
    gradescope.add_argument("--results", type=Path, default=Path("/autograder/results/results.json"))
    _add_limits(gradescope)
    bundle = sub.add_parser("bundle", help="write the autograder zip to upload to Gradescope")
    bundle.add_argument("exercise")
    bundle.add_argument("--out", type=Path, required=True, help="the zip file to write")
    merge = sub.add_parser("merge", help="add the points of the written answers, from "
                                         "OUT/written/points.csv, to the reports and the gradebook")
    merge.add_argument("out", type=Path, help="the --out folder of an earlier `grade`")
    sub.add_parser("list", help="show the exercises, their tasks and points")
    sub.add_parser("check-sandbox", help="show which isolation layers this machine offers "
                                          "(exit status 4 when one is missing)")
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
                        help="refuse to grade unless every isolation layer of the sandbox is available "
                             "(namespaces, cgroup, Landlock, seccomp; an unprivileged uid when run as root)")


class Exit(Exception):
    """Stop with an exit status and a message for the instructor."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _usage_error(message: str) -> Exit:
    return Exit(2, f"error: {message}")


def _exercise(slug: str) -> Exercise:
    known = exercises()
    if slug not in known:
        raise _usage_error(f"unknown exercise {slug!r}; known: {', '.join(known)}")
    return known[slug]


def _limits(args: argparse.Namespace) -> Limits:
    """The limits the options ask for."""
    if getattr(args, "jobs", 1) < 1 or args.timeout <= 0 or args.memory < 256:
        raise _usage_error("--jobs must be at least 1, --timeout positive, --memory at least 256")
    return Limits(cell_seconds=args.timeout, total_seconds=args.total_timeout or 5 * args.timeout,
                  memory_mb=args.memory, require_confinement=args.require_confinement)


def _confinement(limits: Limits) -> None:
    """Refuse (--require-confinement) or warn, once per batch, when a layer is missing."""
    from .sandbox.isolation import probe

    confinement = probe()
    if not confinement.missing:
        return
    listing = confinement.summary()
    if limits.require_confinement:
        raise Exit(4, "refusing to grade (--require-confinement): the sandbox lacks these "
                      f"guarantees on this machine:\n{listing}\nSee the instructors' appendix.")
    print("warning: submissions will run without these guarantees of the sandbox on this machine "
          f"(--require-confinement refuses to grade instead):\n{listing}", file=sys.stderr)


def _run(exercise: Exercise, paths: list[Path], args: argparse.Namespace, limits: Limits,
         jobs: int = 1, progress=None, names: list[str] | None = None, on_result=None) -> list:
    """Grade, adopting and finally killing any process a submission leaves behind."""
    from .grade import ConfinementMissing, grade_batch
    from .reference import GraderError

    _confinement(limits)
    become_subreaper()
    try:
        # issue 16 (speed): a batch graded into the same --out reuses the reference run's values
        cache_dir = Path(args.out) / ".grader-cache" if getattr(args, "out", None) else None
        return grade_batch(exercise, paths, seed=args.seed, jobs=jobs, limits=limits,
                           solutions_dir=args.solutions, progress=progress, names=names,
                           cache_dir=cache_dir, on_result=on_result)
    except GraderError as exc:
        raise Exit(3, f"cannot grade: {exc}") from None
    except ConfinementMissing as exc:
        raise Exit(4, f"refusing to grade (--require-confinement): {exc}") from None
    finally:
        sweep_orphans(keep_launchers=False)


def _list(args: argparse.Namespace) -> int:
    for slug, exercise in exercises().items():
        print(f"{slug}  ({exercise.points:g} points)  {exercise.title}")
        for task in exercise.tasks:
            print(f"    {task.name:<28} {task.level:<8} {task.points:g} points, "
                  f"{len(task.public)} public cases + hidden cases")
        for question in exercise.written:
            print(f"    {question.key:<28} written  {question.points:g} points, graded by hand")
    return 0


def _check_sandbox(args: argparse.Namespace) -> int:
    from .sandbox.isolation import is_privileged, probe

    confinement = probe()
    if confinement.privileged:
        print("grading as root: submissions run as unprivileged user ids of their own")
    else:
        print("grading as root, but submissions keep root's user id (see below)" if is_privileged()
              else "grading as an unprivileged user: submissions keep its user id (in a user namespace when available)")
    for layer in confinement.layers:
        print(f"{'missing' if layer.missing else 'ok':<8} {layer.guarantee}")
        if layer.missing:
            print(f"         {layer.missing}")
    print(_how_kernels_start(confinement))
    return 4 if confinement.missing else 0


def _how_kernels_start(confinement) -> str:
    """Whether kernels are forked from the fork server here (faster, same confinement), found by
    starting one."""
    from . import forkserver
    from .kernel import KernelDied
    from .kernel_pool import KernelPool

    if confinement.bwrap is None:
        return "slower   kernels start from nothing: the fork server needs bubblewrap's namespaces"
    with KernelPool(Limits(), confinement) as pool:
        try:
            kernel = pool.take(time.monotonic() + 60)
        except KernelDied as exc:
            return f"failed   a sandboxed kernel could not start: {exc}"
        pool.release(kernel)
    if kernel.forked:
        return "fast     kernels are forked from a server that imported ipykernel, numpy and scipy once"
    why = "; ".join(forkserver.failures()) or "it is switched off"
    return f"slower   kernels start from nothing: the fork server could not be used ({why})"


def _grade(args: argparse.Namespace) -> int:
    from .notebook import find_submissions
    from .plan import PlanError, plan
    from .report import write_gradebook, write_submission

    exercise = _exercise(args.exercise)
    missing = [str(p) for p in args.submissions if not p.exists()]
    if missing:
        raise _usage_error(f"no such file or folder: {', '.join(missing)}")
    limits = _limits(args)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        probe = args.out / ".grader-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise _usage_error(f"cannot write to --out {args.out}: {exc.strerror or exc}") from None
    out = Path(os.path.abspath(args.out))
    paths = [p for p in find_submissions(args.submissions) if out not in p.parents]  # not our output
    if not paths:
        raise _usage_error("no .ipynb files found in the submissions given")
    try:
        work = plan(exercise, paths, out, args.seed, resume=args.resume, shard=args.shard)
    except PlanError as exc:
        raise _usage_error(str(exc)) from None
    args.seed = work.seed
    if work.kept:
        print(f"{len(work.kept)} submissions already graded with seed {work.seed}: kept")
    unwritten: dict[str, str] = {}
    written = 0
    writing = threading.Lock()

    def write(result) -> None:
        """Each report as soon as its submission is judged: an interrupted run keeps them, and
        --resume goes on from there. One report that cannot be written never costs the others."""
        nonlocal written
        try:
            write_submission(out, result, work.digests.get(result.name))
        except (OSError, ValueError) as exc:
            with writing:
                unwritten[result.name] = f"{type(exc).__name__}: {exc.strerror if isinstance(exc, OSError) else exc}"
            print(f"error: the report of {result.name} could not be written: {unwritten[result.name]}",
                  file=sys.stderr)
            return
        with writing:
            written += 1

    results = []
    if work.todo:
        progress = Progress() if sys.stderr.isatty() else None
        try:
            results = _run(exercise, [paths[i] for i in work.todo], args, limits, jobs=args.jobs,
                           progress=progress, names=[work.names[i] for i in work.todo], on_result=write)
        except KeyboardInterrupt:
            if progress:
                sys.stderr.write("\n")  # off the progress line
            raise Exit(130, f"interrupted: {written} of {len(work.todo)} submissions graded, their reports "
                            f"written to {out}. Run the same command with --resume to grade the rest") from None
    for result in results:
        flag = f"  NOT GRADED: {result.malformed}" if result.malformed else ""
        print(f"{result.name:<30} {result.score:g}/{result.exercise.points:g}{flag}")
    seed = results[0].seed if results else work.seed
    if not work.whole_class:
        k, n = work.shard
        print(f"seed {seed}; shard {k} of {n} graded. When every shard is done, run `grade --resume` "
              f"once over the whole class into one folder: it writes the gradebook.")
        return 1 if unwritten else 0
    try:
        gradebook = write_gradebook(out, results, unwritten, kept=work.kept, order=work.names)
    except OSError as exc:
        raise Exit(1, f"the gradebook could not be written to {out}: {exc.strerror or exc}") from None
    print(f"seed {seed}; gradebook: {gradebook}")
    order = {name: i for i, name in enumerate(work.names)}
    graded = [(r.name, r.path) for r in results if not r.malformed]
    graded += [(name, paths[order[name]]) for name, data in work.kept.items()
               if not data["extra_data"].get("malformed")]
    _collect_written(exercise, sorted(graded, key=lambda item: order[item[0]]), out, args.solutions)
    return 1 if unwritten else 0


def _collect_written(exercise: Exercise, graded: list[tuple[str, Path]], out: Path,
                     solutions: Path | None) -> None:
    from .reference import solution_path
    from .written import write_review

    try:
        files = write_review(out, exercise, solution_path(exercise, solutions), graded)
    except Exception as exc:  # the reports and the gradebook are written already: keep them
        print(f"error: the written answers could not be collected ({type(exc).__name__}: {exc})",
              file=sys.stderr)
        return
    if files:
        print(f"written answers to grade by hand: {files[0].parent}/ (fill in {files[-1].name}, "
              f"then run: python -m grader merge {out})")


def _merge(args: argparse.Namespace) -> int:
    from .written import SheetError, merge

    try:
        merged, empty = merge(args.out)
    except SheetError as exc:
        raise Exit(2, str(exc)) from None
    except OSError as exc:
        raise Exit(1, f"the reports in {args.out} could not be updated: {exc.strerror or exc}") from None
    pending = f"; {empty} still without points" if empty else ""
    print(f"merged {merged} written mark{'s' if merged != 1 else ''} into {args.out}{pending}")
    return 0


def _gradescope(args: argparse.Namespace) -> int:
    """One submission, one results.json where Gradescope looks for it."""
    from .gradescope import pick_notebook
    from .report import results_json, write_atomic

    exercise = _exercise(args.exercise)
    limits = _limits(args)
    notebook, note = pick_notebook(args.submission_dir, args.exercise)  # read later, links checked
    if notebook is None:
        data = {"score": 0.0, "output": note, "tests": []}
    else:
        result = _run(exercise, [notebook], args, limits)[0]
        if note:
            result.notes.insert(0, note)
        data = results_json(result)
    write_atomic(args.results, json.dumps(data, indent=2) + "\n")
    print(f"score {data['score']:g}; results: {args.results}")
    return 0


def _bundle(args: argparse.Namespace) -> int:
    from .gradescope import bundle
    from .reference import REPO, solution_path

    exercise = _exercise(args.exercise)
    if not solution_path(exercise).exists():
        raise _usage_error(f"no solution notebook for {args.exercise} in {REPO / 'solutions'}")
    names = bundle(args.exercise, REPO, args.out)
    print(f"{args.out}: {len(names)} files; upload it as the assignment's autograder")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    commands = {"list": _list, "grade": _grade, "gradescope": _gradescope, "bundle": _bundle,
                "check-sandbox": _check_sandbox, "merge": _merge}
    try:
        return commands[args.command](args)
    except Exit as stop:
        print(f"python -m grader: {stop}", file=sys.stderr)
        return stop.status
