"""The launcher that puts one grading kernel in its sandbox: `python -m grader.sandbox CONFIG`.

The grader starts this process in a new session; it then

1. sets resource limits (address space, CPU seconds, file size, no core dumps),
2. confines itself and all its future children with Landlock (grader.landlock),
3. becomes a child subreaper, so that every process the submission starts, even a daemon that
   double-forks into a new session, stays its descendant,
4. starts the IPython kernel in the scratch directory with no stdin and a scrubbed environment,
   writes the kernel's pid to stdout for the grader, and waits,
5. on SIGTERM from the grader, or when the kernel exits, kills every descendant and exits.

Everything here runs inside the sandbox, so the grader never relies on it alone: it keeps its
own time limits, memory watchdog and a final sweep of the process tree (grader.kernel).
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def kill_descendants() -> None:
    import psutil

    me = psutil.Process()
    # Repeat: a process can fork while we walk the tree.
    for _ in range(5):
        children = me.children(recursive=True)
        if not children:
            return
        for child in children:
            try:
                child.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(children, timeout=1)
        reap()


def reap() -> dict[int, int]:
    """Collect exited children (adopted orphans included); pid -> wait status."""
    statuses = {}
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return statuses
        if pid == 0:
            return statuses
        statuses[pid] = status


def set_limits(config: dict) -> None:
    address_space = config["address_space_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
    cpu = int(config["cpu_seconds"])
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
    file_size = config["file_size_mb"] * 2**20
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[1]).read_text())
    scratch = Path(config["scratch"])
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts are for the kernel, not for us

    def on_term(signum, frame):
        kill_descendants()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    set_limits(config)
    problem = None
    if config["confine"]:
        from .landlock import restrict

        problem = restrict([Path(p) for p in config["read_only"]],
                           [Path(p) for p in config["read_write"]],
                           config["ports"])
        if problem and config["require_confinement"]:
            print(json.dumps({"error": problem}), flush=True)
            return 3
    kernel = subprocess.Popen(
        config["kernel_cmd"], cwd=scratch, env=config["env"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        restore_signals=True,
    )
    print(json.dumps({"kernel_pid": kernel.pid, "confinement": problem}), flush=True)
    # Restore SIGINT handling only in the kernel: Popen's child started with our ignored SIGINT,
    # which ipykernel replaces with its own handler when it starts, so interrupts still work.
    while True:
        statuses = reap()
        if kernel.pid in statuses:
            status = statuses[kernel.pid]
            kill_descendants()
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)
        time.sleep(0.05)


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as exc:  # tell the grader why, on the line it is waiting for
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)
        sys.exit(3)
