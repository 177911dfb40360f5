"""The grader's half of the protocol with a grading kernel: the code it sends, the reply it reads.

`call_cell` is the one code cell that asks the kernel to run a task's cases (the kernel's half is
grader.inkernel.harness); `read_reply` takes the printed reply out of that cell's output and checks its
shape, trusting it no more than anything else the submission's process printed. What the reply
is worth is decided by grader.scoring, in this process.
"""

from __future__ import annotations

from . import wire
from .kernel import CellResult, CellStatus
from .spec import Task
from .wire import ReplyStatus

CALL_SECONDS = 5.0  # per call of a learner's function on one case


def setup_cell(output_bytes: int) -> str:
    """The first cell of every grading kernel: cap the output of each cell, and keep the kernel
    alive through exit() and quit(). Left alone, they end the kernel 0.1 s later, in the middle of
    whichever cell or task's cases run then, so that a task scores zero or not depending on how
    fast the kernel got there. ipykernel's exit() sets keepkernel_on_exit back to False before it
    asks to exit, so the asking itself is what ends nothing here."""
    return (f"import grader.inkernel.harness\ngrader.inkernel.harness.cap_output({output_bytes})\n"
            "get_ipython().ask_exit = lambda: None\n")


def call_cell(task: Task, cases: list[tuple], nonce: str, time_limit: float) -> str:
    """The cell that calls *task*'s function on *cases* in the kernel; its reply is marked with
    *nonce*, fresh for every call, so that the submission cannot print it ahead of time."""
    payload = {
        "nonce": nonce,
        "time_limit": min(CALL_SECONDS, time_limit),
        "tasks": [{"function": task.name, "call": task.call,
                   "cases": [wire.encode(args) for args in cases]}],
    }
    return ("import grader.inkernel.harness as __grader_harness\n"
            f"__grader_harness.run({wire.dumps(payload)!r}, globals())\n")


def read_reply(result: CellResult, nonce: str, function: str) -> dict:
    """The reply for *function* from the call cell's run: what the harness sent, if it has the
    shape of a reply, or a `failed_run` with the reason the learner reads."""
    unreadable = {"status": ReplyStatus.FAILED_RUN, "why": "returned something the grader could not read"}
    try:
        if result.status != CellStatus.OK:
            raise wire.NoReply(result.status)
        reply = wire.open_envelope(result.stdout, nonce)
    except wire.NoReply:
        reason = {
            CellStatus.TIMEOUT: "took too long in total and was stopped",
            CellStatus.FLOOD: "printed too much output and was stopped",
            CellStatus.DIED_AFTER_TIMEOUT: "took too long and ignored the interrupt",
            CellStatus.TOTAL_TIMEOUT: "could not be graded: the notebook used up its total time",
            CellStatus.MEMORY: "used more memory than allowed",
            CellStatus.DIED: "crashed the kernel",
            CellStatus.GARBLED: "could not be called: the kernel's messages were tampered with",
        }.get(result.status, "could not be called (the grader's call was interfered with)")
        return {"status": ReplyStatus.FAILED_RUN, "why": reason}
    except wire.WireError:
        return unreadable
    try:
        raw = reply[function]
    except (KeyError, TypeError, IndexError):
        return unreadable
    # Whatever printed this line ran in the submission's process: trust its shape no more than
    # its values.
    if not isinstance(raw, dict) or not isinstance(raw.get("status"), str):
        return unreadable
    if raw["status"] == ReplyStatus.RAN and not (isinstance(raw.get("results"), list)
                                                 and all(isinstance(o, dict) for o in raw["results"])):
        return unreadable
    return raw
