"""Filesystem, network and signal confinement with Linux Landlock (no root needed).

The grading kernel may read the Python installation and the grader's own code, may write only
its scratch directory, may only create sockets in its socket folder (the kernel talks to the
grader over Unix sockets there), may neither bind nor connect any TCP port, and cannot signal or
ptrace any process outside its sandbox. Inside bubblewrap's namespaces this is a second, inner
layer (grader.sandbox.isolation); where those are unavailable it is the one that keeps a submission from
the solution notebooks, a fake results.json or gradebook, and the grader's memory.

Landlock needs Linux 5.13 or newer; the features used here are taken up to the ABI the running
kernel offers (network rules from ABI 4, signal scoping from ABI 6). Where it is unavailable,
`restrict` returns a reason and the grader says so in every report.
"""

from __future__ import annotations

import ctypes
import os
import platform
from pathlib import Path

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # the same on every arch
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH = 1
PR_SET_NO_NEW_PRIVS = 38

# Filesystem rights, by the ABI that introduced them.
EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3
FS_ABI1 = (1 << 13) - 1
READ_ONLY = EXECUTE | READ_FILE | READ_DIR
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6


class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64),
                ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The Landlock ABI of the running kernel, or 0 where there is none."""
    if platform.system() != "Linux":
        return 0
    try:
        version = _libc().syscall(SYS_CREATE_RULESET, None, ctypes.c_size_t(0),
                                  ctypes.c_uint32(CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0
    return max(int(version), 0)


SOCKETS_ONLY = READ_DIR | MAKE_SOCK | REMOVE_FILE


def restrict(read_only: list[Path], read_write: list[Path], sockets_only: list[Path] = ()) -> str | None:
    """Confine this process and its future children. Returns None, or why it could not."""
    abi = abi_version()
    if abi < 1:
        return "Landlock is not available on this system (Linux 5.13 or newer is needed)"
    libc = _libc()
    fs_rights = FS_ABI1 | (REFER if abi >= 2 else 0) | (TRUNCATE if abi >= 3 else 0)
    attr = RulesetAttr(handled_access_fs=fs_rights,
                       handled_access_net=(NET_BIND_TCP | NET_CONNECT_TCP) if abi >= 4 else 0,
                       scoped=(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)
    size = ctypes.sizeof(RulesetAttr) if abi >= 6 else (16 if abi >= 4 else 8)
    ruleset = libc.syscall(SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"Landlock ruleset refused: {os.strerror(ctypes.get_errno())}"
    try:
        for paths, rights in ((read_only, READ_ONLY), (read_write, fs_rights), (sockets_only, SOCKETS_ONLY)):
            for path in paths:
                try:
                    _allow_path(libc, ruleset, path, rights)
                except OSError as exc:
                    return f"{exc.strerror or exc}: {os.strerror(exc.errno or 0)}"
        # No rule for any TCP port: from ABI 4 on, TCP bind and connect are refused altogether.
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"no_new_privs refused: {os.strerror(ctypes.get_errno())}"
        if libc.syscall(SYS_RESTRICT_SELF, ruleset, 0) < 0:
            return f"Landlock restrict_self refused: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(ruleset)
    return None


def _allow_path(libc, ruleset: int, path: Path, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return  # a path that does not exist on this machine needs no rule
    try:
        if not os.path.isdir(path):
            # Directory-only rights on a file are an error (EINVAL): keep the file rights.
            rights &= EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE
        rule = PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        if libc.syscall(SYS_ADD_RULE, ruleset, RULE_PATH_BENEATH, ctypes.byref(rule), 0) < 0:
            raise OSError(ctypes.get_errno(), f"Landlock rule for {path} refused")
    finally:
        os.close(fd)
