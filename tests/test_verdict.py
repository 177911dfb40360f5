"""check() and the grader reach one verdict: grader.verdict, on the outcome of grader.inkernel.harness.

For every public case of every exercise, with the solution, the blank exercise and wrong answers
(a function returning 0, one returning None), what check() tells the learner must be what the
grader writes in the feedback. The grader's side runs here exactly as in its kernel (the code
`protocol.call_cell` sends, its printed reply read by `protocol.read_reply` and scored by
`scoring.judge`), in this process: the kernel only carries that reply, and test_grader.py checks
the real kernel's feedback against check() on one exercise.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import time
from pathlib import Path

import pytest

import importlib
from grader import protocol, scoring, wire
from grader.kernel import CellResult
from grader.spec import CaseSet, Task, exercises
from grader.verdict import NOT_WRITTEN, not_written_line
from tests.helpers import REPO, notebook_namespace


@functools.lru_cache(maxsize=None)
def namespace(path: Path) -> dict:
    return notebook_namespace(path)


CALL_SECONDS = 0.2  # for check() and the harness alike, so that a hanging answer costs little


def harness_reply(task: Task, notebook: dict, cases: list[tuple]) -> dict:
    """What the grading kernel replies for one task, run in this process on *notebook*."""
    nonce = "0" * 32
    code = protocol.call_cell(task, cases, nonce, time_limit=CALL_SECONDS)
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        exec(code, notebook)
    return protocol.read_reply(CellResult("ok", stdout=stdout.getvalue()), nonce, task.name)


@functools.lru_cache(maxsize=None)
def solution_values(slug: str, task_name: str) -> list:
    task = exercises()[slug].task(task_name)
    reply = harness_reply(task, dict(namespace(REPO / "solutions" / f"{slug}.ipynb")), [c.args for c in task.public])
    return [wire.decode(outcome["value"]) for outcome in reply["results"]]


def hangs(*args, **kwargs):
    time.sleep(60)


def wrong_answers(task: Task) -> dict[str, object]:
    return {"returns 0": lambda *args, **kwargs: 0, "returns None": lambda *args, **kwargs: None, "hangs": hangs}


def check_says(task: Task, fn, notebook: dict) -> tuple[int, list[str]]:
    """What check() prints in the notebook: the number of public cases passed, and the lines
    about failed ones (it shows the first three)."""
    from grader import check

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(f"check({task.name!r}, __answer)", {**notebook, "check": check, "__answer": fn})
    head, *rest = out.getvalue().splitlines()
    if head == f"{task.name}: {NOT_WRITTEN}.":
        return 0, [not_written_line(task)]
    passed = int(re.match(rf"[✓✗] {task.name}: (\d+) of {len(task.public)} public cases pass.$", head).group(1))
    return passed, [f"public case {line.strip()}" for line in rest
                    if line.startswith("  ") and not line.startswith(("  Hint:", "  ... and", "  The grader"))]


def grader_says(slug: str, task: Task, notebook: dict) -> tuple[int, list[str]]:
    case_set = CaseSet(task, task.public, ())  # the public cases only, as check() runs
    raw = harness_reply(task, notebook, case_set.all_args)
    result = scoring.judge(case_set, raw, solution_values(slug, task.name))
    return result.public_passed, result.lines[:3]  # check() shows three


def submissions(slug: str, task: Task) -> dict[str, dict]:
    """The notebooks to judge, by name: the solution, the blank exercise, and wrong answers."""
    solved = namespace(REPO / "solutions" / f"{slug}.ipynb")
    found = {"solution": dict(solved), "blank exercise": dict(namespace(REPO / "exercises" / f"{slug}.ipynb"))}
    for name, fn in wrong_answers(task).items():
        found[name] = {**solved, task.name: fn}
    return found


CASES = [(slug, task.name) for slug, exercise in exercises().items() for task in exercise.tasks]


@pytest.mark.parametrize(("slug", "task_name"), CASES, ids=[f"{s}:{t}" for s, t in CASES])
def test_check_and_the_grader_agree_on_every_public_case(slug, task_name, monkeypatch):
    # grader.check names the function check() too; the module is found by its full name
    monkeypatch.setattr(importlib.import_module("grader.check"), "CALL_TIME_LIMIT", CALL_SECONDS)
    task = exercises()[slug].task(task_name)
    seen = set()
    for name, notebook in submissions(slug, task).items():
        said_by_check = check_says(task, notebook[task.name], notebook)
        said_by_grader = grader_says(slug, task, notebook)
        assert said_by_check == said_by_grader, f"{name}: check and the grader disagree"
        seen.add(said_by_check[0] == len(task.public))
        if name == "solution":
            assert said_by_check == (len(task.public), [])
        elif name == "blank exercise":
            assert said_by_check == (0, [f"{task.name} is {NOT_WRITTEN}"])
    assert seen == {True, False}  # the wrong answers really fail: the agreement is not vacuous
