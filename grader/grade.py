"""Grading: run notebooks in sandboxed kernels, call the tasks, compare in this process.

For one exercise and one seed, the solution notebook is run once to get the expected value of
every case. Each submission then runs in its own kernel; its answers come back as tagged JSON
and are compared here, where nothing the submission did can reach.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shutil
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from . import isolation, wire
from .wire import ReplyStatus
from .kernel import CellResult, CellStatus, KernelDied, Limits, SandboxedKernel, new_workdir
from .notebook import Malformed, Submission, read_submission
from .spec import Case, Exercise, Task
from .verdict import clip, hidden_case_lines, judge_case, not_written, not_written_line, public_case_line

CALL_SECONDS = 5.0  # per call of a learner's function on one case
MAX_KERNEL_STARTS = 4  # a kernel that crashes is restarted without the crashing cell
# A kernel that fails to start has run none of the submission yet: that failure is the machine's
# (a port taken between choosing and binding it, a start-up slowed by load), so try again.
START_ATTEMPTS = 3
REPO = Path(__file__).resolve().parent.parent


class GraderError(Exception):
    """A problem on the instructor's side (a broken solution notebook), not the learner's."""


class ConfinementMissing(Exception):
    """--require-confinement, on a machine that lacks an isolation layer."""


@dataclass(frozen=True)
class CaseSet:
    """The cases of one task in one run: public ones first, then hidden ones."""

    task: Task
    public: tuple[Case, ...]
    hidden: tuple[tuple, ...]

    @property
    def all_args(self) -> list[tuple]:
        return [c.args for c in self.public] + list(self.hidden)


@dataclass
class TaskResult:
    name: str
    max_points: float
    points: float = 0.0
    public_passed: int = 0
    public_total: int = 0
    hidden_passed: int = 0
    hidden_total: int = 0
    lines: list[str] = field(default_factory=list)  # safe to show the learner
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.points >= self.max_points


@dataclass
class Timings:
    """Where a submission's grading time went, in seconds."""
    startup: float = 0.0  # starting sandboxed kernels
    notebook: float = 0.0  # executing the submission's own cells
    tasks: float = 0.0  # calling its functions on the cases

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in vars(self).items()}


@dataclass
class SubmissionResult:
    path: Path
    name: str
    exercise: Exercise
    seed: int
    tasks: list[TaskResult]
    malformed: str | None = None
    notes: list[str] = field(default_factory=list)  # about the run: errors, crashes, limits
    confinement: str | None = None  # the guarantees the sandbox lacked, if any
    timings: Timings = field(default_factory=Timings)
    total_seconds: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(t.points for t in self.tasks), 4)


# ---- running a notebook ----------------------------------------------------------------------

def _harness_code(task: Task, cases: list[tuple], nonce: str, time_limit: float) -> str:
    payload = {
        "nonce": nonce,
        "time_limit": min(CALL_SECONDS, time_limit),
        "tasks": [{"function": task.name, "call": task.call,
                   "cases": [wire.encode(args) for args in cases]}],
    }
    return ("import grader.harness as __grader_harness\n"
            f"__grader_harness.run({wire.dumps(payload)!r}, globals())\n")


def _parse_harness(result: CellResult, nonce: str, function: str) -> dict:
    unreadable = {"status": ReplyStatus.FAILED_RUN, "why": "returned something the grader could not read"}
    try:
        if result.status != CellStatus.OK:
            raise wire.NoReply(result.status)
        reply = wire.open_envelope(result.stdout, nonce)
    except wire.NoReply:
        reason = {
            CellStatus.TIMEOUT: "took too long in total and was stopped",
            CellStatus.FLOOD: "printed too much output and was stopped",
            CellStatus.DIED_AFTER_TIMEOUT: "took too long and ignored the interrupt",
            CellStatus.TOTAL_TIMEOUT: "could not be graded: the notebook used up its total time",
            CellStatus.MEMORY: "used more memory than allowed",
            CellStatus.DIED: "crashed the kernel",
            CellStatus.GARBLED: "could not be called: the kernel's messages were tampered with",
        }.get(result.status, "could not be called (the grader's call was interfered with)")
        return {"status": ReplyStatus.FAILED_RUN, "why": reason}
    except wire.WireError:
        return unreadable
    try:
        raw = reply[function]
    except (KeyError, TypeError, IndexError):
        return unreadable
    # Whatever printed this line ran in the submission's process: trust its shape no more than
    # its values.
    if not isinstance(raw, dict) or not isinstance(raw.get("status"), str):
        return unreadable
    if raw["status"] == ReplyStatus.RAN and not (isinstance(raw.get("results"), list)
                                                 and all(isinstance(o, dict) for o in raw["results"])):
        return unreadable
    return raw


CELL_NOTES = {  # what the learner reads about a cell, by the status of its run
    CellStatus.ERROR: "Cell {n} raised {error}",
    CellStatus.TIMEOUT: "Cell {n} ran longer than {cell:g} s and was interrupted",
    CellStatus.FLOOD: "Cell {n} printed more than {flood} MB of output and was interrupted",
    CellStatus.DIED_AFTER_TIMEOUT: "Cell {n} ran longer than {cell:g} s, ignored the interrupt and was stopped; it is skipped",
    CellStatus.MEMORY: "Cell {n} used more than {memory} MB of memory and was stopped; it is skipped",
    CellStatus.DIED: "Cell {n} crashed the kernel; it is skipped",
    CellStatus.GARBLED: "Cell {n} broke the kernel's messaging (for example by patching json); it is skipped",
    CellStatus.TOTAL_TIMEOUT: "The notebook ran out of its total time of {total:g} s at cell {n}",
}
# After these the kernel is gone or untrustworthy: the cell is skipped on a fresh kernel.
FATAL = (CellStatus.DIED, CellStatus.MEMORY, CellStatus.DIED_AFTER_TIMEOUT, CellStatus.GARBLED)


# How a notebook refers to a hidden package once its import failed: its name, or a usual alias.
ALIASES = {"tensorflow": ("tf",)}


def _needs_hidden_package(result: CellResult, limits: Limits) -> str | None:
    """The hidden package a failed cell needed (its import, or a name that import would bind)."""
    for module in limits.hidden_modules:
        names = (module, *ALIASES.get(module, ()))
        if result.error.startswith(f"ModuleNotFoundError: {module} is not available") or any(
                result.error == f"NameError: name '{name}' is not defined" for name in names):
            return module
    return None


def _describe_cell(result: CellResult, index: int, limits: Limits) -> str | None:
    if result.status == CellStatus.ERROR and (module := _needs_hidden_package(result, limits)):
        return (f"Cell {index + 1} uses {module}, which this exercise hides while it is graded; "
                "such cells are for your own comparisons and do not count")
    template = CELL_NOTES.get(result.status)
    return template and template.format(
        n=index + 1, error=result.error, cell=limits.cell_seconds, flood=limits.flood_bytes // 10**6,
        memory=limits.memory_mb, total=limits.total_seconds)


def run_tasks(submission: Submission, case_sets: list[CaseSet], limits: Limits,
              confinement: isolation.Confinement | None = None) -> tuple[dict[str, dict], list[str], str | None, Timings]:
    """Run the notebook's code cells, then each task's cases, in a sandboxed kernel.

    A cell that crashes the kernel (or ignores an interrupt) is skipped on a fresh kernel, so
    one bad cell costs only what depends on it. Returns the raw result per task, notes for the
    learner, what the sandbox could not apply inside (if anything), and where the time went.
    """
    deadline = time.monotonic() + limits.total_seconds
    skipped: set[int] = set()
    noted: set[str] = set()
    notes: list[str] = []
    raw: dict[str, dict] = {}
    pending = list(case_sets)
    problem: str | None = None
    timings = Timings()

    def note(text: str | None) -> None:
        if text and text not in noted:
            noted.add(text)
            notes.append(text)

    starts, failed_starts = 0, 0
    suspect: int | None = None  # a last cell skipped to see whether it, not a task, killed the kernel
    retried = False
    while starts < MAX_KERNEL_STARTS:
        if not pending:
            break
        workdir = new_workdir()
        kernel = SandboxedKernel(limits, workdir, deadline, confinement)
        try:
            began = time.monotonic()
            try:
                kernel.start()
            except KernelDied as exc:
                failed_starts += 1
                if failed_starts < START_ATTEMPTS:
                    continue  # fresh ports and folders; the finally below cleans this attempt up
                note(f"The notebook's kernel could not start: {exc}")
                break
            starts += 1
            problem = kernel.problem or problem
            # keepkernel_on_exit: exit() in a cell ends nothing, instead of the kernel 0.1 s later,
            # in the middle of whichever task's cases run then
            kernel.execute(f"import grader.harness\ngrader.harness.cap_output({limits.output_bytes})\n"
                           "get_ipython().keepkernel_on_exit = True\n")
            timings.startup += time.monotonic() - began
            restart = False
            last_cell: int | None = None
            for index, source in enumerate(submission.code_cells):
                if index in skipped or not source.strip():
                    continue
                result = kernel.execute(source)
                timings.notebook += result.seconds
                culprit = last_cell if result.status == CellStatus.NOT_RUNNING else index
                if result.status == CellStatus.NOT_RUNNING:
                    result = CellResult(CellStatus.DIED)
                if culprit is not None:
                    note(_describe_cell(result, culprit, limits))
                if result.status in FATAL:
                    skipped.add(culprit)
                    restart = True
                    break
                if result.status == CellStatus.TOTAL_TIMEOUT:
                    break
                last_cell = index
            if restart:
                continue
            for position, case_set in enumerate(list(pending)):
                nonce = secrets.token_hex(16)
                name = case_set.task.name
                code = _harness_code(case_set.task, case_set.all_args, nonce, limits.cell_seconds / 2)
                result = kernel.execute(code, timeout=limits.cell_seconds)
                timings.tasks += result.seconds
                if result.status == CellStatus.NOT_RUNNING:  # the last notebook cell killed it after all
                    if last_cell is not None:
                        note(_describe_cell(CellResult(CellStatus.DIED), last_cell, limits))
                        skipped.add(last_cell)
                    break
                if suspect is not None and position == 0:  # the retry below tells who killed it
                    if result.status == "died":  # the task's function, both times: not the cell
                        skipped.discard(suspect)
                    else:
                        note(_describe_cell(CellResult("died"), suspect, limits))
                    suspect = None
                elif result.status == "died" and position == 0 and last_cell is not None and not retried:
                    # Dead in the first task's call: its function crashed the kernel, or the last
                    # notebook cell did a moment late (a killed launcher takes a few ms). Run again
                    # without that cell; a second death is the task's.
                    suspect, retried = last_cell, True
                    skipped.add(last_cell)
                    break
                raw[name] = _parse_harness(result, nonce, name)
                pending.remove(case_set)
                if not kernel.alive():
                    break  # the next task needs a fresh kernel
        finally:
            kernel.stop()
            shutil.rmtree(workdir, ignore_errors=True)
    for case_set in pending:
        raw[case_set.task.name] = {"status": ReplyStatus.FAILED_RUN, "why": "could not be graded: the notebook kept crashing"}
    return raw, notes, problem, timings


# ---- expected values ---------------------------------------------------------------------------

def draw_cases(exercise: Exercise, seed: int) -> list[CaseSet]:
    return [CaseSet(t, t.public, tuple(t.hidden_cases(seed))) for t in exercise.tasks]


def solution_path(exercise: Exercise, solutions_dir: Path | None = None) -> Path:
    return (solutions_dir or REPO / "solutions") / f"{exercise.slug}.ipynb"


def expected_values(exercise: Exercise, case_sets: list[CaseSet], limits: Limits,
                    solutions_dir: Path | None = None,
                    confinement: isolation.Confinement | None = None) -> dict[str, list[Any]]:
    """Run the solution notebook on every case; its answers are the expected values."""
    path = solution_path(exercise, solutions_dir)
    try:
        solution = read_submission(path, links_stay_in_folder=False)  # the instructor's own file
    except Malformed as exc:
        raise GraderError(f"the solution notebook {path} cannot be used: {exc}") from None
    raw, notes, _, _ = run_tasks(solution, case_sets, limits, confinement)
    expected: dict[str, list[Any]] = {}
    for case_set in case_sets:
        name = case_set.task.name
        result = raw.get(name, {})
        problems = []
        if result.get("status") != ReplyStatus.RAN:
            problems.append(result.get("why") or result.get("status", "did not run"))
        else:
            values = []
            for i, outcome in enumerate(result["results"]):
                if "value" not in outcome:
                    problems.append(f"case {i + 1}: {outcome.get('error', 'no value')}")
                    continue
                value = wire.decode(outcome["value"])
                if isinstance(value, wire.Unsupported):
                    problems.append(f"case {i + 1}: returned {value!r}")
                values.append(value)
            expected[name] = values
            for case, outcome in zip(case_set.public, result["results"]):
                verdict = judge_case(case_set.task, outcome, case.expected, case.args)
                if not verdict.ok:  # check() would tell learners something else than the grader
                    problems.append(f"public case {public_case_line(case_set.task, case, verdict)}")
        if problems:
            detail = "; ".join(problems[:3] + notes[:3])
            raise GraderError(f"the solution notebook {path} fails task {name}: {detail}")
    return expected


# ---- judging ---------------------------------------------------------------------------------

def judge(case_set: CaseSet, raw: dict, expected: list[Any]) -> TaskResult:
    """Score one task from the harness's reply; each case is judged by grader.verdict."""
    task = case_set.task
    n_public, n_hidden = len(case_set.public), len(case_set.hidden)
    result = TaskResult(task.name, task.points, public_total=n_public, hidden_total=n_hidden, hint=task.hint)
    status = raw.get("status")
    if status != ReplyStatus.RAN:
        why = {
            ReplyStatus.MISSING: f"there is no function called {task.name} (was it renamed or deleted?)",
            ReplyStatus.NOT_CALLABLE: f"{task.name} is {clip(raw.get('type', 'not a function'), 100)}, not a function",
            ReplyStatus.HARNESS_ERROR: f"it could not be called: {clip(raw.get('error', ''))}",
        }.get(status, clip(raw.get("why", "it could not be graded")))
        result.lines.append(f"{task.name}: {why}")
        return result
    outcomes = raw.get("results", [])
    if not isinstance(outcomes, list) or len(outcomes) != len(case_set.all_args):
        outcomes = []  # a reply that does not match the cases asked for is no answer at all
    verdicts = [judge_case(task, outcomes[i] if outcomes else None, expected[i], args)
                for i, args in enumerate(case_set.all_args)]
    if not_written(verdicts):
        result.lines.append(not_written_line(task))
        return result
    hidden_reasons: list[str] = []
    for i, verdict in enumerate(verdicts):
        public = i < n_public
        if verdict.ok:
            if public:
                result.public_passed += 1
            else:
                result.hidden_passed += 1
        elif public:
            result.lines.append(f"public case {public_case_line(task, case_set.public[i], verdict)}")
        else:
            hidden_reasons.append(verdict.why)
    result.lines += hidden_case_lines(hidden_reasons)
    passed = result.public_passed + result.hidden_passed
    total = n_public + n_hidden
    share = passed / total if total else 0.0
    if task.all_or_nothing:
        share = 1.0 if passed == total else 0.0
    result.points = round(task.points * share, 4)
    return result


def judge_locally(case_set: CaseSet, raw: dict, expected: list[Any]) -> TaskResult:
    """judge(), where a fault in judging one task (a spec's comparator that breaks its contract,
    say) costs that task only, with a reason, and never the other tasks' points."""
    try:
        return judge(case_set, raw, expected)
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)  # the instructor's bug to fix: keep the details
        task = case_set.task
        return TaskResult(task.name, task.points, hint=task.hint, lines=[
            f"{task.name}: the grader failed while judging this task ({type(exc).__name__}); "
            "ask your instructor to re-run it"])


# ---- a batch -----------------------------------------------------------------------------------

def grade_one(path: Path, name: str, exercise: Exercise, case_sets: list[CaseSet],
              expected: dict[str, list[Any]], seed: int, limits: Limits,
              confinement: isolation.Confinement | None = None) -> SubmissionResult:
    """Grade one file; whatever happens, the result is a SubmissionResult, never an exception.

    Reading the file and grading it are isolated from each other and from the rest of the batch:
    a file that breaks either is a zero with a reason."""
    began = time.monotonic()
    empty = [TaskResult(t.name, t.points, hint=t.hint) for t in exercise.tasks]
    missing = "; ".join(layer.missing for layer in confinement.missing) if confinement else None
    try:
        submission = read_submission(path)
    except Malformed as exc:
        return SubmissionResult(path, name, exercise, seed, empty, malformed=clip(exc),
                                total_seconds=time.monotonic() - began)
    except Exception as exc:  # anything else about the file: it is still only this submission's zero
        return SubmissionResult(path, name, exercise, seed, empty,
                                malformed=f"the file could not be read ({type(exc).__name__})",
                                total_seconds=time.monotonic() - began)
    try:
        raw, notes, problem, timings = run_tasks(submission, case_sets, limits, confinement)
    except Exception as exc:  # a fault of the grader or the machine: report it, grade the rest
        traceback.print_exc(file=sys.stderr)
        note = f"The grader failed on this submission ({type(exc).__name__}); ask your instructor to re-run it."
        return SubmissionResult(path, name, exercise, seed, empty, notes=[note], confinement=missing,
                                total_seconds=time.monotonic() - began)
    tasks = [judge_locally(cs, raw.get(cs.task.name, {}), expected[cs.task.name]) for cs in case_sets]
    return SubmissionResult(path, name, exercise, seed, tasks, notes=[clip(n) for n in notes],
                            confinement="; ".join(filter(None, (missing, problem))) or None,
                            timings=timings, total_seconds=time.monotonic() - began)


# What the grader writes beside the submissions' folders: the gradebook, the written answers
RESERVED_NAMES = {"gradebook.csv", "written"}


def submission_names(paths: list[Path]) -> list[str]:
    """A folder name per submission: the file's stem in safe characters, made unique in a stable
    way (case-insensitively, for file systems that fold case), never a name the grader uses."""
    names: list[str] = []
    taken: set[str] = set(RESERVED_NAMES)
    for path in paths:
        stem = os.fsencode(path.name).decode("utf-8", "replace")
        stem = stem[: -len(".ipynb")] if stem.endswith(".ipynb") else stem
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:80] or "submission"
        name, n = base, 2
        while name.casefold() in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name.casefold())
        names.append(name)
    return names


def grade_batch(exercise: Exercise, paths: list[Path], seed: int | None = None, jobs: int = 1,
                limits: Limits | None = None, solutions_dir: Path | None = None,
                progress: Callable[[int, int], None] | None = None,
                names: list[str] | None = None) -> list[SubmissionResult]:
    """Grade every path; results come back in the order of *paths*, whatever *jobs* is.
    *names* are the report folders' names, when the caller chose them over a larger class."""
    limits = limits or Limits()
    if limits.cpus is None:  # each sandbox its share of the machine, so none starves the others
        limits = dataclasses.replace(limits, cpus=max(1.0, (os.cpu_count() or 1) / max(1, jobs)))
    limits = dataclasses.replace(limits, hidden_modules=exercise.hidden_modules)
    confinement = isolation.probe()
    if confinement.missing and limits.require_confinement:
        raise ConfinementMissing(confinement.summary())
    seed = secrets.randbelow(2**31) if seed is None else seed
    case_sets = draw_cases(exercise, seed)
    expected = expected_values(exercise, case_sets, limits, solutions_dir, confinement)
    names = names or submission_names(paths)
    done = 0
    if progress:
        progress(0, len(paths))

    def work(item: tuple[Path, str]) -> SubmissionResult:
        nonlocal done
        result = grade_one(item[0], item[1], exercise, case_sets, expected, seed, limits, confinement)
        done += 1
        if progress:
            progress(done, len(paths))
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(work, zip(paths, names)))
