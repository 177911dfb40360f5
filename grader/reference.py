"""The reference run: the solution notebook, run once per exercise and seed, gives the expected
value of every case (the spec holds no answers of its own for hidden cases).

A solution that fails a task, or disagrees with a public case's written-out answer (so that
check() would tell learners something else than the grader), stops the batch before any
submission runs: it is the instructor's problem, a GraderError.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from . import expected_cache, wire
from .sandbox import isolation
from .kernel import Limits
from .kernel_pool import KernelPool
from .notebook import Malformed, read_submission
from .runner import run_tasks
from .spec import CaseSet, Exercise
from .verdict import judge_case, public_case_line
from .wire import ReplyStatus

REPO = Path(__file__).resolve().parent.parent


class GraderError(Exception):
    """A problem on the instructor's side (a broken solution notebook), not the learner's."""


def solution_path(exercise: Exercise, solutions_dir: Path | None = None) -> Path:
    return (solutions_dir or REPO / "solutions") / f"{exercise.slug}.ipynb"


def expected_values(exercise: Exercise, case_sets: list[CaseSet], limits: Limits,
                    solutions_dir: Path | None = None,
                    confinement: isolation.Confinement | None = None,
                    kernels: KernelPool | None = None,
                    cache_dir: Path | None = None) -> dict[str, list[Any]]:
    """Run the solution notebook on every case; its answers are the expected values. With
    *cache_dir*, the values of an earlier run with the same inputs are reused (grader.expected_cache)."""
    path = solution_path(exercise, solutions_dir)
    try:
        solution = read_submission(path, links_stay_in_folder=False)  # the instructor's own file
    except Malformed as exc:
        raise GraderError(f"the solution notebook {path} cannot be used: {exc}") from None
    # issue 16 (speed): the same solution, cases, grader and environment give the same values
    key = expected_cache.cache_key(exercise, case_sets, path.read_bytes()) if cache_dir else None
    if key and (cached := expected_cache.load(cache_dir, key, case_sets)) is not None:
        if kernels is not None:
            kernels.expect_fewer(1)  # the kernel of this reference run is not needed
        return cached
    raw, notes, _, _ = run_tasks(solution, case_sets, limits, confinement, kernels)
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
    if key and expected_cache.cache_key(exercise, case_sets, path.read_bytes()) == key:  # unchanged meanwhile
        expected_cache.store(cache_dir, key, expected)
    return expected
