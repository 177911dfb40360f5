"""Running a notebook in sandboxed kernels: its cells, then each task's call, with restarts.

A cell that crashes the kernel (or ignores an interrupt) is skipped on a fresh kernel, so one bad
cell costs only what depends on it. What comes back per task is the harness's raw reply
(grader.protocol); the notes say, in the learner's words, what happened to the notebook's cells.
Nothing here judges: that is grader.scoring's job.
"""

from __future__ import annotations

import secrets
import time

from .sandbox import isolation
from .kernel import CellResult, CellStatus, KernelDied, Limits, SandboxedKernel
from .kernel_pool import KernelPool  # issue 16 (speed): kernels started ahead of need
from .notebook import Submission
from .protocol import call_cell, read_reply, setup_cell
from .results import Timings
from .spec import CaseSet
from .wire import ReplyStatus

MAX_KERNEL_STARTS = 4  # a kernel that crashes is restarted without the crashing cell
# A kernel that fails to start has run none of the submission yet: that failure is the machine's
# (a port taken between choosing and binding it, a start-up slowed by load), so try again.
START_ATTEMPTS = 3


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


def prepare_kernel(kernel: SandboxedKernel) -> None:
    """The grader's prelude (protocol.setup_cell), run in a fresh kernel before any of the
    submission's cells."""
    kernel.execute(setup_cell(kernel.limits.output_bytes))


def run_tasks(submission: Submission, case_sets: list[CaseSet], limits: Limits,
              confinement: isolation.Confinement | None = None,
              kernels: KernelPool | None = None) -> tuple[dict[str, dict], list[str], str | None, Timings]:
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
    # issue 16 (speed): fresh kernels come from a pool (started ahead of need in a batch, on
    # demand otherwise), already past prepare_kernel; each is used for this submission only.
    kernels = kernels or KernelPool(limits, confinement, prepare=prepare_kernel)
    while starts < MAX_KERNEL_STARTS:
        if not pending:
            break
        kernel = None
        try:
            began = time.monotonic()
            try:
                kernel = kernels.take(deadline)
            except KernelDied as exc:
                failed_starts += 1
                if failed_starts < START_ATTEMPTS:
                    continue  # fresh ports and folders; the finally below cleans this attempt up
                note(f"The notebook's kernel could not start: {exc}")
                break
            starts += 1
            problem = kernel.problem or problem
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
                code = call_cell(case_set.task, case_set.all_args, nonce, limits.cell_seconds / 2)
                result = kernel.execute(code, timeout=limits.cell_seconds)
                timings.tasks += result.seconds
                if result.status == CellStatus.NOT_RUNNING:  # the last notebook cell killed it after all
                    if last_cell is not None:
                        note(_describe_cell(CellResult(CellStatus.DIED), last_cell, limits))
                        skipped.add(last_cell)
                    break
                if suspect is not None and position == 0:  # the retry below tells who killed it
                    if result.status == CellStatus.DIED:  # the task's function, both times: not the cell
                        skipped.discard(suspect)
                    else:
                        note(_describe_cell(CellResult(CellStatus.DIED), suspect, limits))
                    suspect = None
                elif result.status == CellStatus.DIED and position == 0 and last_cell is not None and not retried:
                    # Dead in the first task's call: its function crashed the kernel, or the last
                    # notebook cell did a moment late (a killed launcher takes a few ms). Run again
                    # without that cell; a second death is the task's.
                    suspect, retried = last_cell, True
                    skipped.add(last_cell)
                    break
                raw[name] = read_reply(result, nonce, name)
                pending.remove(case_set)
                if not kernel.alive():
                    break  # the next task needs a fresh kernel
        finally:
            if kernel is not None:
                kernels.release(kernel)  # stops it and removes its folder
    for case_set in pending:
        raw[case_set.task.name] = {"status": ReplyStatus.FAILED_RUN, "why": "could not be graded: the notebook kept crashing"}
    return raw, notes, problem, timings
