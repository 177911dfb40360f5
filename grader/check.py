"""`check(task, fn)`: instant feedback in the learner's notebook, on the public cases only.

`import grader` loads this module, and so does the grader's call cell in a grading kernel
(`import grader.inkernel.harness` runs `grader/__init__`). So that the kernel gets only the
in-kernel code, the spec registry and the judging code are imported when check() is called,
not here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from .inkernel import harness

if TYPE_CHECKING:
    from .spec import Task
    from .verdict import CaseVerdict

CALL_TIME_LIMIT = 10.0  # seconds per public case: long enough for any honest answer


def run_public_cases(task: Task, fn: Callable[..., Any]) -> list[CaseVerdict]:
    """Call fn on every public case exactly as the grader's kernel does (the same adapter, the
    same time limit rule: after one case hangs, the rest are not called), and judge each outcome
    with the grader's own judge (the value makes the same trip through the wire format)."""
    from .verdict import judge_case

    caller = harness.make_caller(task.call)  # a name the spec checked when it was built
    outcomes = harness.run_cases(fn, caller, [case.args for case in task.public], CALL_TIME_LIMIT)
    return [judge_case(task, outcome, case.expected, case.args) for case, outcome in zip(task.public, outcomes)]


def check(task_name: str, fn: Callable[..., Any]) -> None:
    """Run the public cases of a task and print what passed, what failed, and a hint."""
    from .spec import find_task
    from .verdict import NOT_WRITTEN, not_written, public_case_line, short

    try:
        _, task = find_task(task_name)
    except KeyError as exc:
        print(f"check: {exc.args[0]}")
        return
    if not callable(fn):
        print(f"check: pass the function itself, as in check({task_name!r}, {task_name}); got {short(fn, 60)}")
        return
    verdicts = list(zip(task.public, run_public_cases(task, fn)))
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
