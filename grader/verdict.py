"""Judging: the one place that turns what a learner's function did on a case into a verdict.

`check()` in the learner's notebook and the grader both get an *outcome* per case from the same
harness code (`harness.run_cases`): ``{"value": <tagged JSON>}``, ``{"error": ..., "stub": True}``,
``{"error": ..., "timeout": True}``, ``{"error": ...}``, or ``{"value": <unsupported>, "why": ...}``.
`judge_case` turns it into a CaseVerdict, and the display helpers below write the lines a learner
reads, so that `check` and the grader cannot drift apart: they share every word.

The grader runs this in its own process on outcomes that crossed the wire from a hostile kernel,
so an outcome of any shape is judged, never trusted, and a comparator that fails is only a
failed case. It imports only the standard library and `wire` (so numpy), like the harness.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from . import wire

if TYPE_CHECKING:  # for type hints only: judging needs the task's comparator, not the spec registry
    from .spec import Case, Task

NOT_WRITTEN = "not written yet: it still raises NotImplementedError"


def clip(text: Any, limit: int = 300) -> str:
    """Any text that may reach a report, cut to a bounded length."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short(value: Any, limit: int = 80) -> str:
    """A value as a learner reads it in one line: its repr, cut to *limit* characters."""
    try:
        text = repr(value)
    except Exception as exc:  # a decoded value cannot fail here, but check() sees raw objects
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    return clip(re.sub(r"\s*\n\s*", " ", text), limit)  # numpy breaks a long array over lines


@dataclass(frozen=True)
class CaseVerdict:
    ok: bool
    why: str = ""  # never holds the inputs or the expected value: it is shown for hidden cases too
    stub: bool = False  # the function is still the exercise's stub
    returned: bool = False  # it returned a value that was compared (shown for public cases)
    value: Any = None  # that value, decoded


def judge_case(task: Task, outcome: Any, expected: Any, args: tuple) -> CaseVerdict:
    """The verdict of one case from the harness's outcome; never raises."""
    if not isinstance(outcome, dict):
        return CaseVerdict(False, "no result came back for this case")
    if outcome.get("stub"):
        return CaseVerdict(False, NOT_WRITTEN, stub=True)
    if outcome.get("timeout"):
        return CaseVerdict(False, f"too slow: {clip(outcome.get('error'), 200)}")
    if "error" in outcome:
        return CaseVerdict(False, f"raised {clip(outcome['error'])}")
    try:
        value = wire.decode(outcome.get("value"))
    except wire.WireError as exc:
        return CaseVerdict(False, f"returned something the grader could not read ({clip(exc, 100)})")
    if isinstance(value, wire.Unsupported):
        why = f" ({clip(outcome['why'], 100)})" if isinstance(outcome.get("why"), str) else ""
        return CaseVerdict(False, f"returned {value!r}, which is not a plain value{why}")
    try:
        verdict = task.compare(value, expected, args)
        ok, why = bool(verdict.ok), clip(verdict.why)
    except Exception as exc:  # a value the comparator cannot handle, or a broken comparator
        return CaseVerdict(False, f"its value cannot be compared ({type(exc).__name__})",
                           returned=True, value=value)
    return CaseVerdict(ok, why, returned=True, value=value)


def not_written(verdicts: Iterable[CaseVerdict]) -> bool:
    """Every case hit the stub: the task was not attempted, which is said once, not per case."""
    verdicts = list(verdicts)
    return bool(verdicts) and all(v.stub for v in verdicts)


def signature(task: Task, args: tuple) -> str:
    return f"{task.name}({', '.join(short(a, 60) for a in args)})"


def public_case_line(task: Task, case: Case, verdict: CaseVerdict) -> str:
    """What a failed public case tells the learner, in check() and in the grader's feedback.

    The expected value is the spec's written-out answer: for most tasks it equals the
    solution's, and for a statistical task it describes what any right answer looks like."""
    if verdict.returned:
        return (f"{signature(task, case.args)} returned {short(verdict.value)}; "
                f"expected {short(case.expected)}: {verdict.why}")
    return f"{signature(task, case.args)} {verdict.why}"


def not_written_line(task: Task) -> str:
    return f"{task.name} is {NOT_WRITTEN}"


def tally(reasons: Iterable[str]) -> list[tuple[str, int]]:
    """Reasons with their counts, in order of first appearance."""
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return list(counts.items())


def hidden_case_lines(reasons: Iterable[str]) -> list[str]:
    return [f"{count} hidden case{'s' if count > 1 else ''}: {reason}" for reason, count in tally(reasons)]
