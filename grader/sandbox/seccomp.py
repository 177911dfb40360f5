"""A seccomp filter for the grading kernel: no network sockets and no new user namespaces.

The network namespace already leaves a sandbox nothing to reach but its own loopback; this filter
removes that too, and covers machines where namespaces are unavailable. `socket()` works for Unix
sockets (the kernel talks to the grader over them) and for route netlink (ZMQ lists the network
interfaces before it binds, and aborts if it cannot; in the sandbox that shows only its own
loopback); UDP, TCP, raw, packet and every other family fail with EAFNOSUPPORT. io_uring, which
could create sockets without `socket()`, is refused. A sandbox may not create user namespaces
(`clone`/`unshare` with CLONE_NEWUSER; `clone3` reports ENOSYS, so the C library falls back to
`clone`), so it never gains capabilities of any kind. System calls of a foreign ABI (32-bit,
x32) are refused, so none of this can be bypassed.

The filter is a classic BPF program built here (no libseccomp needed) and installed by the
sandbox launcher before it starts the kernel; `supported()` says whether this machine's
architecture is known.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

# linux/audit.h, asm/unistd.h
ARCHES = {
    "x86_64": {"arch": 0xC000003E, "socket": 41, "clone": 56, "unshare": 272, "clone3": 435,
               "io_uring_setup": 425, "x32": True},
    "aarch64": {"arch": 0xC00000B7, "socket": 198, "clone": 220, "unshare": 97, "clone3": 435,
                "io_uring_setup": 425, "x32": False},
}
X32_SYSCALL_BIT = 0x40000000
AF_UNIX = 1
# ZMQ lists network interfaces (getifaddrs, over a route netlink socket) before it binds, and
# aborts if it cannot: route netlink only reads the sandbox's own interfaces, so it stays.
AF_NETLINK, NETLINK_ROUTE = 16, 0
CLONE_NEWUSER = 0x10000000

RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
JEQ_K, JGE_K, JSET_K = 0x15, 0x35, 0x45  # BPF_JMP | (BPF_JEQ, BPF_JGE, BPF_JSET) | BPF_K
RET_K = 0x06
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0, OFFSET_ARG2 = 0, 4, 16, 32  # struct seccomp_data (low words)

PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2


def supported() -> str | None:
    """None, or why the filter cannot be used on this machine."""
    if platform.system() != "Linux":
        return "seccomp is Linux only"
    if platform.machine() not in ARCHES:
        return f"the seccomp filter does not know the {platform.machine()} architecture"
    return None


def program() -> list[tuple[int, int, int, int]]:
    """The filter as (code, jump if true, jump if false, k) instructions."""
    nr = ARCHES[platform.machine()]

    def deny(code: int) -> tuple[int, int, int, int]:
        return (RET_K, 0, 0, RET_ERRNO | code)

    allow = (RET_K, 0, 0, RET_ALLOW)
    prog = [
        (LD_W_ABS, 0, 0, OFFSET_ARCH),
        (JEQ_K, 1, 0, nr["arch"]),
        deny(errno.ENOSYS),  # a foreign ABI (int 0x80 on x86_64)
        (LD_W_ABS, 0, 0, OFFSET_NR),
    ]
    if nr["x32"]:
        prog += [(JGE_K, 0, 1, X32_SYSCALL_BIT), deny(errno.ENOSYS)]
    # Each check: if nr == N, run the next instructions, else skip them.
    prog += [
        (JEQ_K, 0, 7, nr["socket"]),
        (LD_W_ABS, 0, 0, OFFSET_ARG0),
        (JEQ_K, 4, 0, AF_UNIX),
        (JEQ_K, 0, 2, AF_NETLINK),
        (LD_W_ABS, 0, 0, OFFSET_ARG2),
        (JEQ_K, 1, 0, NETLINK_ROUTE),
        deny(errno.EAFNOSUPPORT),
        allow,
        (JEQ_K, 0, 1, nr["io_uring_setup"]),
        deny(errno.ENOSYS),
        (JEQ_K, 0, 1, nr["clone3"]),
        deny(errno.ENOSYS),
        (JEQ_K, 1, 0, nr["clone"]),
        (JEQ_K, 0, 4, nr["unshare"]),
        (LD_W_ABS, 0, 0, OFFSET_ARG0),
        (JSET_K, 0, 1, CLONE_NEWUSER),
        deny(errno.EPERM),
        allow,
        allow,
    ]
    return prog


class _Filter(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install() -> str | None:
    """Install the filter on this process (inherited by all its children); None or why not."""
    problem = supported()
    if problem:
        return problem
    code = b"".join(struct.pack("HBBI", *ins) for ins in program())
    buffer = ctypes.create_string_buffer(code, len(code))
    prog = _Filter(len(code) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return f"no_new_privs refused: {ctypes.get_errno()}"
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0) != 0:
        import os

        return f"the seccomp filter was refused: {os.strerror(ctypes.get_errno())}"
    return None
