"""Scoring one task: from the harness's reply for it to a TaskResult with points and feedback.

Each case is judged by grader.verdict (the same code check() uses); this module adds what only
the grader does: hidden cases, counted reasons, points and the all-or-nothing rule. It runs in
the grader's process, on a reply that came from the submission's kernel and is trusted for
nothing but its shape.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any

from .results import TaskResult
from .spec import CaseSet
from .verdict import clip, hidden_case_lines, judge_case, not_written, not_written_line, public_case_line
from .wire import ReplyStatus


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
