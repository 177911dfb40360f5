"""The launcher that puts one grading kernel in its sandbox: `python -I -S grader/sandbox/launcher.py CONFIG`.

It runs as a plain script on the standard library alone (with its siblings landlock.py and
seccomp.py), not as part of the `grader` package, whose import (numpy, the exercise specs) would
add half a second to every sandbox's start.

The grader starts this process inside bubblewrap's namespaces (or, where those are unavailable,
directly in a new session); it then

1. when started as root, hands its home to an unprivileged user id and becomes that user, with
   no groups and no capabilities (grader.sandbox.isolation),
2. sets resource limits (address space, CPU seconds, file size, no core dumps),
3. confines itself and all its future children with Landlock (grader.sandbox.landlock) and a seccomp
   filter (grader.sandbox.seccomp),
4. becomes a child subreaper, so that every process the submission starts stays its descendant,
5. starts the IPython kernel in the home folder with no stdin and a scrubbed environment,
   writes the kernel's pid to stdout for the grader, and waits,
6. on SIGTERM from the grader, or when the kernel exits, kills every descendant and exits.

Where the grader forks kernels from its fork server (grader.sandbox.zygote), the configuration
says "hold": the launcher only takes the sandbox's identity, writes its pid and waits, keeping
the namespaces open for the forked kernel, which applies steps 1 to 3 to itself with the
functions below (`prepare_home`, `set_limits`, `confine`).

Everything here runs inside the sandbox, so the grader never relies on it alone: the namespace
(or the cgroup) ends every process of the sandbox from outside, and the grader keeps its own
time and output limits (grader.kernel).
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


@functools.cache
def _sibling(name: str):
    """grader/sandbox/<name>.py, imported on its own (it needs only the standard library)."""
    spec = importlib.util.spec_from_file_location(f"grader_{name}", Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _descendants() -> list[int]:
    """This process's descendants, from /proc (without it, as on macOS, the grader kills them)."""
    children: dict[int, list[int]] = {}
    for entry in (os.listdir("/proc") if os.path.isdir("/proc") else []):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                ppid = int(handle.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_descendants() -> None:
    # Repeat: a process can fork while we walk the tree.
    for _ in range(5):
        found = _descendants()
        if not found:
            return
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.02)
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


def become(uid: int, home: Path) -> None:
    """Give *home* to *uid* and become it for good: no groups, no way back to root."""
    os.chown(home, uid, uid)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise RuntimeError("the sandbox could still become root after dropping its privileges")


def prepare_home(config: dict) -> Path:
    """Become the sandbox's user (when started as root) and make the home's folders."""
    home = Path(config["home"])
    if config.get("uid") is not None:
        become(config["uid"], home)
    for sub in config["make_dirs"]:
        (home / sub).mkdir(parents=True, exist_ok=True)
    return home


def confine(config: dict) -> list[str]:
    """Landlock and seccomp; returns what could not be applied."""
    problems = []
    restrict = _sibling("landlock").restrict
    problem = restrict([Path(p) for p in config["read_only"]],
                       [Path(p) for p in config["read_write"]],
                       [Path(p) for p in config["sockets_only"]])
    if problem:
        problems.append(f"Landlock: {problem}")
    problem = _sibling("seccomp").install()
    if problem:
        problems.append(f"seccomp: {problem}")
    return problems


def tell_grader(message: dict) -> None:
    """The one line the grader reads. Nothing more goes to it this way: the pipes are closed, so
    that a submission cannot write into them."""
    print(json.dumps(message), flush=True)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def main(argv: list[str]) -> int:
    config = json.loads(Path(argv[1]).read_text())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # interrupts are for the kernel, not for us

    def on_term(signum, frame):
        kill_descendants()
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    if config.get("hold"):
        return hold(config)
    home = prepare_home(config)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    set_limits(config)
    problems = confine(config)
    if problems and config["require_confinement"]:
        print(json.dumps({"error": "; ".join(problems)}), flush=True)
        return 3
    kernel = subprocess.Popen(
        config["kernel_cmd"], cwd=home, env=config["env"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        restore_signals=True,
    )
    tell_grader({"kernel_pid": kernel.pid, "launcher_pid": os.getpid(),
                 "confinement": "; ".join(problems) or None})
    # Popen's child started with our ignored SIGINT, which ipykernel replaces with its own
    # handler when it starts, so interrupts still work.
    while True:
        statuses = reap()
        if kernel.pid in statuses:
            status = statuses[kernel.pid]
            kill_descendants()
            if os.WIFSIGNALED(status):
                return 128 + os.WTERMSIG(status)
            return os.WEXITSTATUS(status)
        time.sleep(0.05)


def hold(config: dict) -> int:
    """Keep the sandbox's namespaces open for a kernel forked into them, until the grader ends
    the sandbox. Nothing runs here: the kernel is not this process's child."""
    if config.get("uid") is not None:
        become(config["uid"], Path(config["home"]))
    tell_grader({"launcher_pid": os.getpid()})
    while True:
        signal.pause()


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as exc:  # tell the grader why, on the line it is waiting for
        print(json.dumps({"error": f"{type(exc).__name__}: {str(exc)[:300]}"}), flush=True)
        sys.exit(3)
