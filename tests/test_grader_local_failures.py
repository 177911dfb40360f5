"""A failure while judging one task costs that task only: the other tasks are still scored.

A test-only exercise whose spec has a comparator that raises (on wrong values, or on every hidden
case, as a buggy spec would), and a task whose adapter (grader.inkernel.adapters.adamw_steps)
raises on what the function returns.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import nbformat
import pytest

from grader import compare, grade, scoring
from grader.reference import GraderError
from grader.results import SubmissionResult
from grader.compare import Verdict
from grader.inkernel.adapters import adamw_steps
from grader.spec import Case, Exercise, Task, exercises

SLUG = "90_local_failures"


def fragile(got, expected, args) -> Verdict:
    """A comparator that assumes the value is right: it raises on anything else."""
    if got != expected:
        raise ValueError("this comparator cannot handle a wrong value")
    return Verdict(True)


def broken_on_hidden_cases(got, expected, args) -> Verdict:
    """A comparator with a bug that only the hidden inputs (x >= 100) reach."""
    if args[0] >= 100:
        return Verdict(1 / 0 == got)
    return compare.close()(got, expected, args)


def task(name: str, comparator) -> Task:
    return Task(name, 1.0, public=(Case((1.0,), 2.0), Case((2.0,), 4.0)),
                hidden=lambda rng: [(float(x),) for x in rng.integers(100, 200, size=3)],
                compare=comparator, hint="double it")


# A task called through a real adapter: plain gradient steps, run by adamw_steps on exercise 6's
# cases; the adapter raises when the function does not return (w, m, v).
ADAMW = exercises()["06_adaptive_optimizers"].task("adamw_step")


def plain_step(w, g, m, v, t, lr, beta_1, beta_2, epsilon, weight_decay):
    return w - lr * g, m, v


PLAIN_STEP = inspect.getsource(plain_step)  # the notebooks below define it too


def adapted_task() -> Task:
    args = ADAMW.public[0].args
    return Task("plain_step", 1.0, public=(Case(args, adamw_steps(plain_step, *args)),),
                hidden=lambda rng: ADAMW.hidden(rng)[:3], compare=ADAMW.compare, hint="step", call="adamw_steps")


EXERCISE = Exercise(SLUG, "local failures", tasks=(
    task("double_plain", compare.close()),
    task("double_fragile", fragile),
    task("double_buggy_spec", broken_on_hidden_cases),
    adapted_task(),
))


def notebook(path: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, path)
    return path


SOLVED = "".join(f"def {t.name}(x):\n    return 2 * x\n" for t in EXERCISE.tasks if not t.call) + PLAIN_STEP


@pytest.fixture(scope="module")
def graded(tmp_path_factory) -> dict[str, SubmissionResult]:
    folder = tmp_path_factory.mktemp("local")
    solutions = folder / "solutions"
    solutions.mkdir()
    notebook(solutions / f"{SLUG}.ipynb", SOLVED)
    wrong = SOLVED.replace("def double_fragile(x):\n    return 2 * x", "def double_fragile(x):\n    return 'two x'")
    wrong = wrong.replace("    return w - lr * g, m, v\n", "    return 'two x'\n")
    paths = [notebook(folder / "solved.ipynb", SOLVED), notebook(folder / "wrong.ipynb", wrong)]
    results = grade.grade_batch(EXERCISE, paths, seed=3, solutions_dir=solutions)
    return {r.name: r for r in results}


def points(result: SubmissionResult) -> dict[str, float]:
    return {t.name: t.points for t in result.tasks}


def lines(result: SubmissionResult, name: str) -> str:
    return "\n".join(next(t for t in result.tasks if t.name == name).lines)


def test_a_comparator_that_raises_fails_only_its_task(graded):
    wrong = graded["wrong"]
    assert not wrong.notes, wrong.notes  # no "the grader failed on this submission"
    assert points(wrong) == {"double_plain": 1.0, "double_fragile": 0.0, "double_buggy_spec": 0.4,
                             "plain_step": 0.0}
    assert "its value cannot be compared (ValueError)" in lines(wrong, "double_fragile")


def test_a_buggy_spec_costs_its_task_with_a_reason_and_nothing_else(graded):
    solved = graded["solved"]
    assert points(solved) == {"double_plain": 1.0, "double_fragile": 1.0, "double_buggy_spec": 0.4,
                              "plain_step": 1.0}
    assert "3 hidden cases: its value cannot be compared (ZeroDivisionError)" in lines(
        solved, "double_buggy_spec")


def test_an_adapter_that_raises_fails_only_its_task(graded):
    said = lines(graded["wrong"], "plain_step")
    assert "raised TypeError: return a tuple of 3: the new w, then the new m and the new v" in said, said


def test_a_fault_while_judging_one_task_costs_that_task_only(monkeypatch, tmp_path):
    """A bug of the grader's own in judging one task (here simulated) used to zero every task."""
    real_judge = scoring.judge

    def judge(case_set, raw, expected):
        if case_set.task.name == "double_plain":
            raise RuntimeError("a bug in the grader")
        return real_judge(case_set, raw, expected)

    monkeypatch.setattr(scoring, "judge", judge)
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    notebook(solutions / f"{SLUG}.ipynb", SOLVED)
    [result] = grade.grade_batch(EXERCISE, [notebook(tmp_path / "solved.ipynb", SOLVED)], seed=3,
                                 solutions_dir=solutions)
    assert points(result) == {"double_plain": 0.0, "double_fragile": 1.0, "double_buggy_spec": 0.4,
                              "plain_step": 1.0}
    assert "the grader failed while judging this task (RuntimeError)" in lines(result, "double_plain")


def test_a_comparator_that_raises_on_the_solution_stops_the_batch_with_a_reason(tmp_path):
    """Before any submission runs: check() would tell learners the same, so the spec needs fixing."""
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    notebook(solutions / f"{SLUG}.ipynb",
             SOLVED.replace("def double_fragile(x):\n    return 2 * x", "def double_fragile(x):\n    return 2 * x + 1"))
    with pytest.raises(GraderError, match=r"fails task double_fragile: public case double_fragile\(1.0\) "
                                                r"returned 3.0; expected 2.0: its value cannot be compared \(ValueError\)"):
        grade.grade_batch(EXERCISE, [notebook(tmp_path / "s.ipynb", SOLVED)], seed=3, solutions_dir=solutions)


def test_check_reports_a_raising_comparator_or_adapter_as_a_failed_case():
    from grader.check import run_public_cases

    fragile_task = EXERCISE.task("double_fragile")
    verdict = run_public_cases(fragile_task, lambda x: "two x")[0]
    assert not verdict.ok and verdict.why == "its value cannot be compared (ValueError)"
    [verdict] = run_public_cases(EXERCISE.task("plain_step"), lambda *args: "two x")
    assert not verdict.ok and verdict.why.startswith("raised TypeError: return a tuple of 3"), verdict.why
