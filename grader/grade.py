"""Grading a batch: run each submission in a sandboxed kernel, score it in this process.

For one exercise and one seed, the solution notebook is run once to get the expected value of
every case (grader.reference; kept across batches by grader.expected_cache). Each submission runs
in its own fresh kernel (grader.runner, kernels started ahead of need by grader.kernel_pool),
beside the reference run; its answers come back as tagged JSON and are scored here
(grader.scoring) once the expected values are there, where nothing the submission did can reach.
No worker waits for the reference run: a submission that has run is judged as soon as its
values are there. The results are grader.results' model, which the reporters read.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import sys
import threading
import time
import traceback
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Mapping

from .sandbox import isolation
from .kernel import Limits
from .kernel_pool import KernelPool  # issue 16 (speed): kernels started ahead of need
from .notebook import Malformed, read_submission
from .plan import submission_names
from .reference import expected_values
from .results import SubmissionResult, TaskResult, Timings
from .runner import prepare_kernel, run_tasks
from .scoring import judge_locally
from .spec import CaseSet, Exercise, draw_cases
from .verdict import clip


class ConfinementMissing(Exception):
    """--require-confinement, on a machine that lacks an isolation layer."""


@dataclasses.dataclass
class RanSubmission:
    """A submission whose notebook and task calls have run, to be judged once the reference
    run's expected values are there: a worker need not wait for them before it runs the next."""

    path: Path
    name: str
    case_sets: list[CaseSet]
    raw: dict[str, dict]
    notes: list[str]
    confinement: str | None
    timings: Timings
    seconds: float

    def judge(self, exercise: Exercise, expected: Mapping[str, list[Any]], seed: int) -> SubmissionResult:
        tasks = [judge_locally(cs, self.raw.get(cs.task.name, {}), expected[cs.task.name]) for cs in self.case_sets]
        return SubmissionResult(self.path, self.name, exercise, seed, tasks, notes=[clip(n) for n in self.notes],
                                confinement=self.confinement, timings=self.timings, total_seconds=self.seconds)


def run_one(path: Path, name: str, exercise: Exercise, case_sets: list[CaseSet], seed: int, limits: Limits,
            confinement: isolation.Confinement | None = None,
            kernels: KernelPool | None = None) -> SubmissionResult | RanSubmission:
    """Run one file: a RanSubmission to judge, or, when it could not run, its final result
    (never an exception).

    Reading the file and running it are isolated from each other and from the rest of the batch:
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
        raw, notes, problem, timings = run_tasks(submission, case_sets, limits, confinement, kernels)
    except Exception as exc:  # a fault of the grader or the machine: report it, grade the rest
        traceback.print_exc(file=sys.stderr)
        note = f"The grader failed on this submission ({type(exc).__name__}); ask your instructor to re-run it."
        return SubmissionResult(path, name, exercise, seed, empty, notes=[note], confinement=missing,
                                total_seconds=time.monotonic() - began)
    return RanSubmission(path, name, case_sets, raw, notes, "; ".join(filter(None, (missing, problem))) or None,
                         timings, time.monotonic() - began)


def grade_batch(exercise: Exercise, paths: list[Path], seed: int | None = None, jobs: int = 1,
                limits: Limits | None = None, solutions_dir: Path | None = None,
                progress: Callable[[int, int], None] | None = None,
                names: list[str] | None = None, cache_dir: Path | None = None,
                on_result: Callable[[SubmissionResult], None] | None = None) -> list[SubmissionResult]:
    """Grade every path; results come back in the order of *paths*, whatever *jobs* is.
    *names* are the report folders' names, when the caller chose them over a larger class.
    *cache_dir* keeps the reference run's expected values for the next batch. *on_result*
    receives each result as soon as it is judged (from any thread), so that its report can be
    written while the batch goes on and an interrupted batch keeps what it has graded.

    On KeyboardInterrupt the kernels in use are killed, so the batch stops at once rather than
    when the cells running then reach their time limit, and no further submission is begun."""
    limits = limits or Limits()
    if limits.cpus is None:  # each sandbox its share of the machine, so none starves the others
        limits = dataclasses.replace(limits, cpus=max(1.0, (os.cpu_count() or 1) / max(1, jobs)))
    limits = dataclasses.replace(limits, hidden_modules=exercise.hidden_modules)
    confinement = isolation.probe()
    if confinement.missing and limits.require_confinement:
        raise ConfinementMissing(confinement.summary())
    seed = secrets.randbelow(2**31) if seed is None else seed
    case_sets = draw_cases(exercise, seed)
    names = names or submission_names(paths)
    # issue 16 (speed): the reference run and every submission take their kernels from one pool,
    # which starts them ahead of need (one kernel per submission, plus the reference run's).
    kernels = KernelPool(limits, confinement, prepare=prepare_kernel, ahead=kernels_ahead(jobs),
                         expected=len(paths) + 1)
    # The reference run goes on beside the submissions, which are judged once its values are
    # there; when it fails, the submissions not yet begun are not run at all.
    with kernels, ThreadPoolExecutor(max_workers=1, thread_name_prefix="reference") as reference:
        reference_run = reference.submit(expected_values, exercise, case_sets, limits, solutions_dir,
                                         confinement, kernels, cache_dir)
        judged = _Judging(exercise, seed, reference_run, on_result)
        stopping = threading.Event()
        counting = threading.Lock()
        done = 0
        if progress:
            progress(0, len(paths))

        def work(index: int) -> None:
            nonlocal done
            if stopping.is_set():
                return
            if reference_run.done() and (failed := reference_run.exception()):
                raise failed
            ran = run_one(paths[index], names[index], exercise, case_sets, seed, limits, confinement, kernels)
            if stopping.is_set():  # cut short by abort(): not a result, and no report says otherwise
                return
            with counting:
                done += 1
                if progress:
                    progress(done, len(paths))
            judged.add(index, ran)

        workers = ThreadPoolExecutor(max_workers=max(1, jobs))
        try:
            for future in [workers.submit(work, index) for index in range(len(paths))]:
                future.result()
        except BaseException:  # Ctrl-C, or a failed reference run: begin nothing more, end what runs
            stopping.set()
            kernels.abort()
            workers.shutdown(wait=True, cancel_futures=True)
            raise
        workers.shutdown()
        judged.finish()  # a broken solution fails the batch, even one of unreadable files
        return [judged.results[index] for index in range(len(paths))]


class _Judging:
    """Judges each submission once it has run and the reference run's values are there, and
    hands its result to *on_result* then: reports are written while the batch goes on."""

    def __init__(self, exercise: Exercise, seed: int, reference_run: Future,
                 on_result: Callable[[SubmissionResult], None] | None):
        self.exercise, self.seed, self.reference_run, self.on_result = exercise, seed, reference_run, on_result
        self.results: dict[int, SubmissionResult] = {}
        self._waiting: list[tuple[int, SubmissionResult | RanSubmission]] = []
        self._lock = threading.Lock()
        # Those that ran before the values were there are judged the moment they are.
        reference_run.add_done_callback(lambda run: run.exception() is None and self._judge_waiting())

    def add(self, index: int, ran: SubmissionResult | RanSubmission) -> None:
        with self._lock:
            self._waiting.append((index, ran))
        if self.reference_run.done() and self.reference_run.exception() is None:
            self._judge_waiting()

    def finish(self) -> None:
        self.reference_run.result()  # raises the reference run's error
        self._judge_waiting()

    def _judge_waiting(self) -> None:
        expected = self.reference_run.result()
        # Under the lock throughout, so that finish() returns only when every result is in
        # (judging is quick; a report's writing takes milliseconds).
        with self._lock:
            for index, ran in self._waiting:
                result = ran.judge(self.exercise, expected, self.seed) if isinstance(ran, RanSubmission) else ran
                self.results[index] = result
                if self.on_result:
                    self.on_result(result)
            self._waiting = []


def kernels_ahead(jobs: int) -> int:
    """Kernels to start ahead of need: one more than the jobs. With one job on two cores, two
    kernels starting while a submission runs keep both cores busy when submissions are small
    (starting a sandboxed kernel then costs more than running the submission)."""
    return jobs + 1
