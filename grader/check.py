"""`check(task, fn)`: instant feedback in the learner's notebook, on the public cases only."""

from __future__ import annotations

import sys
from typing import Any, Callable

from . import harness, wire
from .compare import Verdict
from .spec import Case, Task, find_task

CALL_TIME_LIMIT = 10.0  # seconds per public case: long enough for any honest answer


def _show(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _signature(task: Task, case: Case) -> str:
    args = ", ".join(_show(a, 60) for a in case.args)
    return f"{task.name}({args})"


def run_public_case(task: Task, fn: Callable[..., Any], case: Case, notebook: dict | None = None) -> Verdict:
    """Call fn on one public case exactly as the grader would, and judge it like the grader."""
    caller = harness.make_caller(task.call, notebook)
    try:
        value = harness.call_case(fn, caller, case.args, CALL_TIME_LIMIT)
    except NotImplementedError as exc:
        if type(exc) is NotImplementedError:  # the stub; as the grader's harness decides
            return Verdict(False, "not written yet: it still raises NotImplementedError")
        return Verdict(False, f"raised {harness.describe_exception(exc)}")
    except harness.CallTimeout as exc:
        return Verdict(False, f"too slow: it {exc}")
    except Exception as exc:
        return Verdict(False, f"raised {harness.describe_exception(exc)}")
    # Judge what the grader would see: the value after the trip through the wire format.
    try:
        value = wire.decode(wire.encode(value))
    except wire.WireError as exc:
        return Verdict(False, f"returned {_show(value, 80)}, which the grader cannot read ({exc})")
    verdict = task.compare(value, case.expected, case.args)
    if verdict.ok:
        return verdict
    return Verdict(False, f"returned {_show(value)}; expected {_show(case.expected)}: {verdict.why}")


def check(task_name: str, fn: Callable[..., Any]) -> None:
    """Run the public cases of a task and print what passed, what failed, and a hint."""
    try:
        _, task = find_task(task_name)
    except KeyError as exc:
        print(f"check: {exc.args[0]}")
        return
    if not callable(fn):
        print(f"check: pass the function itself, as in check({task_name!r}, {task_name}); got {_show(fn, 60)}")
        return
    notebook = sys._getframe(1).f_globals  # the learner's notebook, as the grader's kernel sees it
    verdicts = [(case, run_public_case(task, fn, case, notebook)) for case in task.public]
    failed = [(case, v) for case, v in verdicts if not v.ok]
    stub = failed and all("NotImplementedError" in v.why for _, v in failed)
    if stub and len(failed) == len(verdicts):
        print(f"{task_name}: not written yet (the stub still raises NotImplementedError).")
        return
    passed = len(verdicts) - len(failed)
    mark = "✓" if not failed else "✗"
    print(f"{mark} {task_name}: {passed} of {len(verdicts)} public cases pass.")
    for case, verdict in failed[:3]:
        print(f"  {_signature(task, case)} {verdict.why}")
    if len(failed) > 3:
        print(f"  ... and {len(failed) - 3} more.")
    if failed:
        print(f"  Hint: {task.hint}")
    else:
        print("  The grader also tries hidden inputs, so keep edge cases in mind.")
