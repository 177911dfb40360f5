"""Calling a learner's function on one case: shared by `check` and by the grading kernel.

`call_case` is the single place where a task's arguments meet the learner's function. Most tasks
call ``fn(*args)``; a task whose arguments are not plain data (several consecutive optimizer
steps, say) names an adapter of grader.inkernel.adapters, called as ``adapter(fn, *args)``: the
payload that reaches the kernel carries only its name.

`run` is what the grader executes inside the submission's kernel, after the submission's own
cells. It looks the function up in the notebook's namespace, calls it on every case with a time
limit, and prints one line of tagged JSON between markers that carry a per-run nonce. The
submission may have tampered with anything in its own process, this module included; that can
only spoil its own answers, because the expected values never enter this process.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import sys
import traceback
from typing import Any, Callable

from .. import wire
from .adapters import ADAPTERS


class CallTimeout(Exception):
    """Raised inside the learner's function when it runs past the per-call time limit."""


def make_caller(adapter: str | None) -> Callable[..., Any]:
    """The adapter a task names, called as ``adapter(fn, *args)``, or plain ``fn(*args)`` when it
    names none. An unknown name raises KeyError (the spec checks its names when it is built)."""
    if not adapter:
        return lambda fn, *args: fn(*args)
    return ADAPTERS[adapter]


def call_case(fn: Callable[..., Any], caller: Callable[..., Any], args: tuple, time_limit: float | None = None) -> Any:
    """Call *fn* on a private copy of *args* (so that in-place edits cannot leak between cases)."""
    args = copy.deepcopy(args)
    if not time_limit:
        return caller(fn, *args)

    def on_alarm(signum, frame):
        raise CallTimeout(f"did not return within {time_limit:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, time_limit)
    try:
        return caller(fn, *args)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# The grader's package folder: frames from there are the grader's, not the learner's.
GRADER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def describe_exception(exc: BaseException) -> str:
    """One line naming the exception and the learner's line it came from, without grader frames."""
    where = ""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not frame.filename.startswith(GRADER_DIR):
            where = f" (line {frame.lineno}: {frame.line.strip()[:120]})" if frame.line else ""
            break
    message = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__[:100]}{': ' + message if message else ''}{where}"


def run_case(fn: Callable[..., Any], caller: Callable[..., Any], args: tuple,
             time_limit: float | None) -> dict:
    """Call *fn* on one case; the outcome is plain tagged data (see grader.verdict), never an
    exception. `check()` and the grading kernel both call this, so both judge the same outcome."""
    try:
        value = call_case(fn, caller, args, time_limit)
    except NotImplementedError as exc:
        # The stub raises NotImplementedError itself; a subclass (input()'s
        # StdinNotImplementedError) is an error of written code.
        return ({"error": "NotImplementedError", "stub": True} if type(exc) is NotImplementedError
                else {"error": describe_exception(exc)})
    except CallTimeout as exc:
        return {"error": f"it {exc}", "timeout": True}
    except BaseException as exc:  # SystemExit, KeyboardInterrupt: the learner's, reported
        return {"error": describe_exception(exc)}
    try:
        return {"value": wire.encode(value)}
    except wire.WireError as exc:
        return {"value": wire.describe_unsupported(value), "why": str(exc)}


def evaluate(namespace: dict, function: str, adapter: str | None, cases: list[tuple],
             time_limit: float | None) -> dict:
    """Run one task's cases; every outcome is plain tagged data, never an exception."""
    fn = namespace.get(function)
    if fn is None:
        return {"status": wire.ReplyStatus.MISSING}
    if not callable(fn):
        return {"status": wire.ReplyStatus.NOT_CALLABLE, "type": type(fn).__name__[:100]}
    caller = make_caller(adapter)
    return {"status": wire.ReplyStatus.RAN, "results": run_cases(fn, caller, cases, time_limit)}


def run_cases(fn: Callable[..., Any], caller: Callable[..., Any], cases: list[tuple],
              time_limit: float | None) -> list[dict]:
    """The outcome of every case, in order; `check()` and the grading kernel share it."""
    results = []
    timed_out = False
    for args in cases:
        if timed_out:  # one hang is enough: do not spend the time limit once per case
            results.append({"error": "not called: an earlier case ran past the time limit", "timeout": True})
            continue
        outcome = run_case(fn, caller, args, time_limit)
        timed_out = bool(outcome.get("timeout"))
        results.append(outcome)
    return results


class CappedStream:
    """sys.stdout or sys.stderr with a per-cell budget, so that an accidental flood of prints
    ends as a truncated output instead of a kernel that runs out of memory buffering it.
    (Hostile code can undo this; the grader's own memory limit still holds then.)"""

    NOTICE = "\n[output truncated by the grader]\n"

    def __init__(self, stream, limit: int):
        self._grader_stream = stream
        self._limit = limit
        self._written = 0

    def reset(self, *args) -> None:
        self._written = 0

    def _write(self, text: str) -> int:
        room = self._limit - self._written
        if room <= 0:
            return len(text)
        self._written += len(text)
        if len(text) <= room:
            return self._grader_stream.write(text)
        self._grader_stream.write(text[:room] + self.NOTICE)  # the write that crosses the budget
        return len(text)

    # IPython 9 tees every write of every cell into its output history by assigning
    # `sys.stdout.write`; a flood would then pile up in memory behind the cap. A read-only
    # `write` keeps this stream the outermost layer.
    write = property(lambda self: self._write, lambda self, value: None)

    def __getattr__(self, name):
        return getattr(self._grader_stream, name)


def cap_output(limit: int) -> None:
    """Install CappedStream on stdout and stderr, reset before every cell."""
    from IPython import get_ipython

    for name in ("stdout", "stderr"):
        capped = CappedStream(getattr(sys, name), limit)
        setattr(sys, name, capped)
        get_ipython().events.register("pre_run_cell", capped.reset)


def run(payload_json: str, namespace: dict) -> None:
    """Entry point inside the grading kernel, given the notebook's globals; prints one marked line."""
    payload = json.loads(payload_json)
    out: dict[str, Any] = {}
    for task in payload["tasks"]:
        cases = [wire.decode(c) for c in task["cases"]]
        try:
            out[task["function"]] = evaluate(namespace, task["function"], task.get("call"),
                                             cases, payload.get("time_limit"))
        except BaseException as exc:  # a broken adapter or a patched environment
            out[task["function"]] = {"status": wire.ReplyStatus.HARNESS_ERROR, "error": describe_exception(exc)}
    nonce = payload["nonce"]
    stdout = getattr(sys.stdout, "_grader_stream", sys.stdout)  # past the cap of the learner's prints
    stdout.write(wire.envelope(nonce, out))
    stdout.flush()
