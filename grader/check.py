"""`check(task, fn)`: instant feedback in the learner's notebook, on the public cases only."""

from __future__ import annotations

import sys
from typing import Any, Callable

from . import harness
from .spec import Task, find_task
from .verdict import NOT_WRITTEN, CaseVerdict, judge_case, not_written, public_case_line, short

CALL_TIME_LIMIT = 10.0  # seconds per public case: long enough for any honest answer


def run_public_cases(task: Task, fn: Callable[..., Any], notebook: dict | None = None) -> list[CaseVerdict]:
    """Call fn on every public case exactly as the grader's kernel does (the same time limit rule:
    after one case hangs, the rest are not called), and judge each outcome with the grader's own
    judge (the value makes the same trip through the wire format)."""
    try:
        caller = harness.make_caller(task.call, notebook)
    except Exception as exc:  # a broken adapter in the spec: this task's failure, not a traceback
        why = f"could not be called: the task's adapter failed ({harness.describe_exception(exc)})"
        return [CaseVerdict(False, why) for _ in task.public]
    outcomes = harness.run_cases(fn, caller, [case.args for case in task.public], CALL_TIME_LIMIT)
    return [judge_case(task, outcome, case.expected, case.args) for case, outcome in zip(task.public, outcomes)]


def check(task_name: str, fn: Callable[..., Any]) -> None:
    """Run the public cases of a task and print what passed, what failed, and a hint."""
    try:
        _, task = find_task(task_name)
    except KeyError as exc:
        print(f"check: {exc.args[0]}")
        return
    if not callable(fn):
        print(f"check: pass the function itself, as in check({task_name!r}, {task_name}); got {short(fn, 60)}")
        return
    notebook = sys._getframe(1).f_globals  # the learner's notebook, as the grader's kernel sees it
    verdicts = list(zip(task.public, run_public_cases(task, fn, notebook)))
    failed = [(case, v) for case, v in verdicts if not v.ok]
    if not_written(v for _, v in verdicts):
        print(f"{task_name}: {NOT_WRITTEN}.")
        return
    passed = len(verdicts) - len(failed)
    mark = "✓" if not failed else "✗"
    print(f"{mark} {task_name}: {passed} of {len(verdicts)} public cases pass.")
    for case, verdict in failed[:3]:
        print(f"  {public_case_line(task, case, verdict)}")
    if len(failed) > 3:
        print(f"  ... and {len(failed) - 3} more.")
    if failed:
        print(f"  Hint: {task.hint}")
    else:
        print("  The grader also tries hidden inputs, so keep edge cases in mind.")
