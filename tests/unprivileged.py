"""Run a command as an unprivileged user: the suite's way to test the grader's non-root path.

`python -m tests.unprivileged [--no-userns] [--delegate-cgroup] UID -- COMMAND...` starts as root.
In a child process it

1. makes Python, the virtual environment and the checkout reachable for UID: a folder on the way
   that others may not enter (/root, where pyenv keeps Python on the build machines, or a private
   temporary folder holding a fresh clone) is covered by an empty tmpfs in a mount namespace of
   the child's own, with the entry on the way bound back in;
2. with --delegate-cgroup, gives UID a cgroup of its own in every hierarchy the grader uses, as
   systemd's Delegate=yes does, and moves itself into it;
3. with --no-userns, refuses user namespaces with a seccomp filter (EPERM, what a kernel with
   unprivileged user namespaces disabled answers): a machine without them, for this process tree;
4. drops to UID, with no groups and no capabilities, and runs COMMAND.

The parent stays root, waits for the command and removes the delegated cgroups.
"""

from __future__ import annotations

import argparse
import ctypes
import errno
import os
import struct
import sys
from pathlib import Path

from grader.sandbox import cgroups, seccomp

CLONE_NEWNS = 0x00020000
MS_BIND, MS_REC, MS_PRIVATE = 4096, 16384, 1 << 18
libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        raise OSError(ctypes.get_errno(), f"{what}: {os.strerror(ctypes.get_errno())}")


def reachable(targets: list[str]) -> None:
    """Cover each folder on the way to *targets* that others cannot enter (/root holding pyenv's
    Python, a private temporary folder holding the checkout) with an empty tmpfs, and bind back
    the one entry on the way."""
    for _ in range(8):  # a covered folder's entry may itself be closed: go on below it
        closed: dict[str, set[str]] = {}
        for target in targets:
            parts = Path(os.path.realpath(target)).parts
            for depth in range(2, len(parts)):
                folder = os.path.join(*parts[:depth])
                if not os.stat(folder).st_mode & 0o001:
                    closed.setdefault(folder, set()).add(os.path.join(folder, parts[depth]))
                    break
        if not closed:
            return
        for folder, entries in closed.items():
            handles = {entry: os.open(entry, os.O_PATH) for entry in entries}
            _check(libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"mode=0755"), f"tmpfs on {folder}")
            for entry, fd in handles.items():
                if os.path.isdir(f"/proc/self/fd/{fd}"):
                    os.mkdir(entry)
                else:
                    open(entry, "w").close()
                _check(libc.mount(f"/proc/self/fd/{fd}".encode(), entry.encode(), None, MS_BIND | MS_REC, None),
                       f"bind {entry}")
                os.close(fd)
    raise OSError(f"could not open the way to {targets}")


def delegate_cgroups(uid: int) -> list[Path]:
    """Groups owned by *uid* below this process's own, with this process in them."""
    groups, mounts = cgroups._own_groups(), cgroups._mounts()
    made: list[Path] = []
    v2 = next((m for m in mounts if m.kind == "cgroup2"), None)
    v2_dir = cgroups._under(v2, groups.get("", "/")) if v2 else None
    if v2_dir and set(cgroups.NEEDED) <= set(cgroups._read(v2_dir / "cgroup.controllers").split()):
        targets = [v2_dir]
    else:
        targets = [cgroups._under(next(m for m in mounts if c in m.options), groups.get(c, "/"))
                   for c in cgroups.NEEDED]
    for own in dict.fromkeys(targets):
        folder = own / f"lr-test-user-{os.getpid()}"
        folder.mkdir()
        made.append(folder)
        for path in (folder, *(folder / name for name in ("cgroup.procs", "tasks", "cgroup.threads",
                                                           "cgroup.subtree_control"))):
            if path.exists():
                os.chown(path, uid, uid)
        (folder / "cgroup.procs").write_text(str(os.getpid()))
    return made


def refuse_user_namespaces() -> None:
    """A seccomp filter: clone/unshare with CLONE_NEWUSER fail with EPERM, clone3 with ENOSYS."""
    nr = seccomp.ARCHES[os.uname().machine]
    deny = lambda code: (seccomp.RET_K, 0, 0, seccomp.RET_ERRNO | code)  # noqa: E731
    allow = (seccomp.RET_K, 0, 0, seccomp.RET_ALLOW)
    program = [
        (seccomp.LD_W_ABS, 0, 0, seccomp.OFFSET_NR),
        (seccomp.JEQ_K, 0, 1, nr["clone3"]), deny(errno.ENOSYS),
        (seccomp.JEQ_K, 1, 0, nr["clone"]),
        (seccomp.JEQ_K, 0, 3, nr["unshare"]),
        (seccomp.LD_W_ABS, 0, 0, seccomp.OFFSET_ARG0),
        (seccomp.JSET_K, 0, 1, seccomp.CLONE_NEWUSER), deny(errno.EPERM),
        allow,
    ]
    code = b"".join(struct.pack("HBBI", *ins) for ins in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = seccomp._Filter(len(program), ctypes.cast(buffer, ctypes.c_void_p))
    _check(libc.prctl(seccomp.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    _check(libc.prctl(seccomp.PR_SET_SECCOMP, seccomp.SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0), "seccomp")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-userns", action="store_true")
    parser.add_argument("--delegate-cgroup", action="store_true")
    parser.add_argument("uid", type=int)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if os.geteuid() != 0:
        print("tests.unprivileged must start as root", file=sys.stderr)
        return 2
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read_end)
            _check(libc.unshare(CLONE_NEWNS), "unshare")
            _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "private mounts")
            reachable([sys.base_prefix, sys.prefix, sys.executable, os.getcwd()])
            made = delegate_cgroups(args.uid) if args.delegate_cgroup else []
            os.write(write_end, "\n".join(map(str, made)).encode())
            os.close(write_end)
            if args.no_userns:
                refuse_user_namespaces()
            os.setgroups([])
            os.setresgid(args.uid, args.uid, args.uid)
            os.setresuid(args.uid, args.uid, args.uid)
            os.execvp(command[0], command)
        except BaseException as exc:  # noqa: BLE001 - report and leave the child
            print(f"tests.unprivileged: {exc!r}", file=sys.stderr)
            os._exit(127)
    os.close(write_end)
    made = [Path(p) for p in os.read(read_end, 65536).decode().split("\n") if p]
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    for folder in made:  # ours, and whatever the grader left below them
        cgroups.Group(1, {"": folder}).kill()
        for below, _, _ in sorted(os.walk(folder), key=lambda entry: -len(entry[0])):
            try:
                os.rmdir(below)
            except OSError as exc:
                print(f"tests.unprivileged: cannot remove {below}: {exc.strerror}", file=sys.stderr)
    return os.waitstatus_to_exitcode(status)


if __name__ == "__main__":
    sys.exit(main())
