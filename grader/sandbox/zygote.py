"""The fork server: grading kernels forked from a process that has already imported ipykernel,
numpy and scipy, instead of started from nothing (issue 16).

A fresh kernel spends most of its start importing the same modules (ipykernel and IPython, then
numpy for the grader's prelude and scipy for the tasks): about 0.6 s of CPU, paid again for every
submission. This process imports them once; each kernel is a fork of it, which costs a few
hundredths of a second and shares those pages until they are written.

`python grader/sandbox/zygote.py '{"preload": [...], "hidden": [...]}'`, started by the grader
(grader.forkserver) outside every sandbox, with the sandboxes' scrubbed environment and no
secrets. It reads one request per line on stdin and answers one JSON line on stdout. A request
names a sandbox that bubblewrap has set up around a launcher in "hold" mode
(grader/sandbox/launcher.py). For it, the server forks a child that

1. joins the sandbox's cgroup, then its user, mount, network, IPC, UTS, cgroup and PID
   namespaces (setns), after checking that the process it names is still the one the grader
   found and that every namespace is a different one from the server's own;
2. forks the kernel, the first process of the sandbox's PID namespace that the server did not
   start, and exits;

and the kernel, before it runs anything else,

3. drops every capability (joining a user namespace grants them all inside it), becomes the
   sandbox's user when the grader is root, and makes its home's folders,
4. sets the launcher's resource limits and confines itself with Landlock and seccomp, exactly
   as the launcher does (the same functions, loaded from launcher.py),
5. closes every file it inherited, reseeds the random generators the fork copied, and runs
   ipykernel in place.

The server never reads a submission or anything a sandbox wrote; a sandbox cannot see it (another
PID namespace), signal or trace it (Landlock), or write to it (its pipes are closed in every
child). It adopts the kernels it forked (a child subreaper) and reaps them. It ends when the grader
closes its pipe, or dies (PR_SET_PDEATHSIG would tie it to the grader's thread that started it,
not to the grader); the grader kills the sandboxes themselves, as before.
"""

from __future__ import annotations

import ctypes
import fcntl
import gc
import importlib
import importlib.util
import json
import os
import random
import select
import signal
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLONE_FLAGS = {"user": 0x10000000, "mnt": 0x00020000, "net": 0x40000000, "ipc": 0x08000000,
               "uts": 0x04000000, "cgroup": 0x02000000, "pid": 0x20000000}
JOINED = ("mnt", "net", "ipc", "uts", "cgroup", "pid")  # after the user namespace, in this order
MUST_DIFFER = ("mnt", "net", "ipc", "pid")  # a sandbox always has its own; never join ours
NS_GET_USERNS = 0xB701  # ioctl: the user namespace that owns a namespace
PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER = 24, 36
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
REPORT_SECONDS = 30  # a forked kernel that has not said how its confinement went by then failed
CAP_FIELDS = ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")

libc = ctypes.CDLL(None, use_errno=True)


def _launcher():
    """launcher.py, loaded by path (it is a script, not a module of a package)."""
    spec = importlib.util.spec_from_file_location("grader_launcher", HERE / "launcher.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def _say(fd: int, message: dict) -> None:
    os.write(fd, (json.dumps(message) + "\n").encode())


def _why(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, (RuntimeError, OSError)) else f"{type(exc).__name__}: {exc}"
    return text[:300]


# ---- the server ------------------------------------------------------------------------------

def preload(modules: list[str], hidden: list[str]) -> list[str]:
    """Import what every kernel imports, but never a package the exercise hides."""
    sys.modules["debugpy"] = None  # as grader/sandbox/kernel_main.py: no debugger in a grading kernel
    loaded = []
    for name in modules:
        if name.split(".")[0] in hidden:
            continue
        try:
            importlib.import_module(name)
        except Exception:  # not installed: a kernel that needs it imports it itself, and fails there
            continue
        loaded.append(name)
    leaked = sorted({name.split(".")[0] for name in sys.modules} & set(hidden))
    if leaked:
        raise RuntimeError(f"preloading imported a package the exercise hides: {', '.join(leaked)}")
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:  # a fork copies only the calling thread: a library's thread would be lost
        raise RuntimeError(f"the fork server has {threads} threads after its imports; it needs one")
    return loaded


def _reap(signum=None, frame=None) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def serve(launcher) -> None:
    requests = sys.stdin.buffer
    for line in requests:
        try:
            request = json.loads(line)
            reply = fork_kernel(request, launcher)
        except Exception as exc:  # a malformed request: say so, and serve the next one
            reply = {"error": _why(exc)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


def fork_kernel(request: dict, launcher) -> dict:
    """Fork a kernel into the sandbox *request* names; its host pid, or why it failed."""
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:
        code = 1
        try:
            os.close(read_end)
            enter_sandbox(request, write_end, launcher)
            code = 0
        except BaseException as exc:
            try:
                _say(write_end, {"error": _why(exc)})
            except BaseException:
                pass
        finally:
            os._exit(code)
    os.close(write_end)
    # Both the child and the kernel write here; it ends when both have closed it.
    reply: dict = {}
    text = b""
    deadline = time.monotonic() + REPORT_SECONDS
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([read_end], [], [], left)[0]:
                reply.setdefault("error", "the forked kernel did not report its confinement in time")
                os.kill(child, signal.SIGKILL)  # the grader ends the sandbox, and what got into it
                break
            chunk = os.read(read_end, 65536)
            if not chunk:
                break
            text += chunk
    finally:
        os.close(read_end)
    for line in text.decode(errors="replace").splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if isinstance(message, dict):
            for key in ("kernel_pid", "confinement", "error"):
                if key in message:
                    reply.setdefault(key, message[key])
    if "error" not in reply and ("kernel_pid" not in reply or "confinement" not in reply):
        reply["error"] = "the forked kernel exited before it was confined"
    if "error" in reply and "kernel_pid" in reply:
        try:
            os.kill(reply.pop("kernel_pid"), signal.SIGKILL)
        except OSError:
            pass
    return reply


# ---- the child: into the sandbox ---------------------------------------------------------------

def start_time(pid: int) -> int:
    """A process's start time (field 22 of /proc/PID/stat): with the pid, it names one process.
    The grader reads it too (grader.forkserver), when it names the holding process."""
    with open(f"/proc/{pid}/stat") as handle:
        return int(handle.read().rsplit(")", 1)[1].split()[19])


def enter_sandbox(request: dict, report: int, launcher) -> None:
    """Join the sandbox's cgroup and namespaces, and fork the kernel into them."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the server's pipes to the grader are not for the sandbox
        os.dup2(devnull, fd)
    os.closerange(3, report)
    os.closerange(report + 1, 2**16)
    for procs in request["cgroup_procs"]:
        with open(procs, "w") as handle:
            handle.write(str(os.getpid()))
    holder = int(request["holder_pid"])
    fds = {name: os.open(f"/proc/{holder}/ns/{name}", os.O_RDONLY) for name in CLONE_FLAGS}
    # The namespaces just opened are the sandbox's only if the process is still the one the
    # grader found (a pid is reused once its process is gone).
    if start_time(holder) != int(request["holder_start"]):
        raise RuntimeError("the sandbox's holding process is gone")
    own = {name: os.stat(f"/proc/self/ns/{name}").st_ino for name in CLONE_FLAGS}
    theirs = {name: os.fstat(fd).st_ino for name, fd in fds.items()}
    same = [name for name in MUST_DIFFER if theirs[name] == own[name]]
    if same:
        raise RuntimeError(f"the sandbox shares the server's {', '.join(same)} namespace")
    owner = theirs["user"]
    if theirs["user"] != own["user"]:
        # bubblewrap's --disable-userns nests the sandbox's user namespace in the one that owns
        # its other namespaces: join that one first, so that joining them is allowed.
        owner_fd = fcntl.ioctl(fds["mnt"], NS_GET_USERNS)
        owner = os.fstat(owner_fd).st_ino
        _check(libc.setns(owner_fd, CLONE_FLAGS["user"]), "setns(user)")
        os.close(owner_fd)
    for name in JOINED:
        if theirs[name] != own[name]:
            _check(libc.setns(fds[name], CLONE_FLAGS[name]), f"setns({name})")
    if owner != theirs["user"]:
        _check(libc.setns(fds["user"], CLONE_FLAGS["user"]), "setns(user)")
    for fd in fds.values():
        os.close(fd)
    kernel = os.fork()  # the first process of this process's children in the sandbox's PID namespace
    if kernel == 0:
        try:
            config = lock_down(request, report, launcher)
        except BaseException as exc:
            try:
                _say(report, {"error": _why(exc)})
            finally:
                os._exit(1)
        try:
            start_ipykernel(config)
        finally:
            os._exit(0)
    _say(report, {"kernel_pid": kernel})


# ---- the kernel ----------------------------------------------------------------------------------

class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _drop_bounding_set() -> None:
    """Nothing that follows can gain a capability back (an exec of a set-uid file, for one)."""
    last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    for cap in range(last + 1):
        _check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0), "dropping the capability bounding set")


def _clear_capabilities() -> None:
    _check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing ambient capabilities")
    header = _CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    _check(libc.capset(ctypes.byref(header), (_CapData * 2)()), "capset")


def _capabilities() -> dict[str, int]:
    status = Path("/proc/self/status").read_text().splitlines()
    return {line.split(":")[0]: int(line.split()[1], 16) for line in status
            if line.split(":")[0] in CAP_FIELDS}


def lock_down(request: dict, report: int, launcher) -> dict:
    """Confine this process as the launcher would have, say how that went, and close the report
    pipe; returns the sandbox's configuration."""
    os.setsid()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    config = json.loads(Path(request["config"]).read_text())
    # Joining a user namespace grants every capability inside it, and a root server's child has
    # them all outright: none may be left.
    _drop_bounding_set()
    if config.get("uid") is None:
        _clear_capabilities()
    home = launcher.prepare_home(config)  # as root: becoming the sandbox's user clears them
    held = {name: value for name, value in _capabilities().items() if value}
    if held:
        raise RuntimeError(f"the kernel kept capabilities: {held}")
    os.chdir(home)
    os.environ.clear()
    os.environ.update(config["env"])
    launcher.set_limits(config)
    problems = launcher.confine(config)
    if problems and config["require_confinement"]:
        raise RuntimeError("; ".join(problems))
    _say(report, {"confinement": "; ".join(problems) or None})
    os.closerange(3, 2**16)  # the report pipe too: nothing of the server is left open
    return config


def start_ipykernel(config: dict) -> None:
    """Become the kernel, as grader/sandbox/kernel_main.py would have started it."""
    # The fork copied the server's random state: each kernel draws its own, as a fresh one would.
    random.seed()
    if "numpy.random" in sys.modules:
        sys.modules["numpy.random"].seed()
    argv = [str(a) for a in config["kernel_cmd"][2:]]
    sys.argv = [str(config["kernel_cmd"][1]), *argv]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance(argv=argv)


def main(argv: list[str]) -> int:
    # Python put this script's folder first on the path; a kernel's path starts without it.
    if sys.path and Path(sys.path[0]).resolve() == HERE:
        del sys.path[0]
    settings = json.loads(argv[1])
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # kernels whose forking child exited are ours to reap
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the grader's to handle
    signal.signal(signal.SIGCHLD, _reap)
    try:
        launcher = _launcher()
        for name in ("landlock", "seccomp"):  # loaded once here, not from a file in every kernel
            launcher._sibling(name)
        loaded = preload(list(settings["preload"]), list(settings["hidden"]))
    except Exception as exc:
        print(json.dumps({"error": _why(exc)}), flush=True)
        return 3
    # The preloaded objects will never be collected: keep the collector off their pages, which
    # every fork would otherwise copy as soon as a collection touched them.
    gc.freeze()
    print(json.dumps({"ready": True, "preloaded": loaded}), flush=True)
    serve(launcher)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
