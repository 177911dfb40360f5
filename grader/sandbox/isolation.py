"""How a submission is confined, and which of those layers this machine offers.

Every submission's kernel runs in layers, outermost first:

1. **Namespaces** through bubblewrap (`bwrap`, Debian's `bubblewrap` package, Flatpak's sandbox):
   its own PID, network, mount, IPC, UTS and cgroup namespaces, and a user namespace when the
   grader is not root. Inside, it sees a read-only system and Python, the `grader` and `course`
   packages, a private tmpfs home, and nothing else: no solutions, no other submission, no other
   process, no network device but an isolated loopback. Killing the namespace's first process
   ends every process in it, so nothing outlives a submission.
2. **Identity**: when the grader is root, the sandbox launcher drops to an unprivileged user id
   of its own (no capabilities, no groups) before any submitted code runs.
3. **A cgroup** (grader.sandbox.cgroups) bounds memory (memfd and shared memory included), the number of
   processes and threads, and CPU.
4. **Landlock** (grader.sandbox.landlock), inside: file access beneath the allowed paths, no TCP at all,
   no signals or abstract sockets beyond the sandbox.
5. **seccomp** (grader.sandbox.seccomp): no socket but Unix sockets, no user namespaces.

Where bubblewrap works, a kernel is forked into these layers by the fork server (grader.forkserver,
grader/sandbox/zygote.py), which applies layers 2, 4 and 5 to it as the launcher would; the
launcher then only holds the sandbox open.

`probe()` checks all of them once per batch. A layer that is missing is named with the guarantee
it would have given and why it is missing; `--require-confinement` then refuses to grade.
Set GRADER_BWRAP to choose the bwrap binary (tests set it to a missing path to simulate a machine
without it).
"""

from __future__ import annotations

import os
import pwd
import random
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import cgroups, landlock, seccomp

INSIDE_HOME = "/home/learner"  # the sandbox's scratch folder: a tmpfs of its own
INSIDE_RUN = "/run/grader"  # its configuration (read-only) and its kernel's sockets
SYSTEM_ROOTS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# Unprivileged user ids for sandboxes when the grader is root: far above any real account.
SANDBOX_UID_BASE, SANDBOX_UID_SPAN = 2_100_000_000, 1_000_000


@dataclass(frozen=True)
class Layer:
    name: str
    guarantee: str  # what the layer guarantees, in the instructor's words
    missing: str | None = None  # why it is unavailable here; None when it is in place


@dataclass(frozen=True)
class Confinement:
    """What this machine offers, probed once per batch."""

    layers: tuple[Layer, ...]
    bwrap: str | None = None  # the bwrap binary, when namespaces work
    privileged: bool = False  # root in the initial user namespace: sandboxes drop to another uid
    cgroups: cgroups.Cgroups | None = field(default=None, compare=False)

    @property
    def missing(self) -> list[Layer]:
        return [layer for layer in self.layers if layer.missing]

    def summary(self) -> str:
        """One line per missing guarantee, for the instructor."""
        return "\n".join(f"- {layer.guarantee}: {layer.missing}" for layer in self.missing)


# ---- what a sandbox may read -------------------------------------------------------------------

@dataclass(frozen=True)
class ReadablePaths:
    """The host paths a sandbox sees, read-only and at the same place: the one policy to extend.

    A path added to `roots` becomes readable (bubblewrap binds it, Landlock allows it). A path in
    `hidden`, beneath a root, is a package folder covered by a read-only folder that holds only
    HIDDEN_PACKAGE as its `__init__.py`, so that importing the package raises
    ModuleNotFoundError (bubblewrap only: Landlock cannot take back part of a root).
    """

    roots: tuple[str, ...]
    hidden: tuple[str, ...] = ()


def _without_nested(paths: set[str]) -> list[str]:
    kept: list[str] = []
    for path in sorted(paths, key=lambda p: (len(p), p)):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return sorted(kept)


# What a hidden package's folder holds instead of its code: an __init__ that refuses to import.
HIDDEN_PACKAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hidden_package.py")
# The grader's package folder (the parent of this subpackage), which every kernel imports from.
GRADER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def package_folders(modules: tuple[str, ...]) -> tuple[str, ...]:
    """The folders that top-level packages import from, found without importing them."""
    import importlib.util

    folders = []
    for module in modules:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        if spec is not None and spec.submodule_search_locations:
            folders += [os.path.abspath(f) for f in spec.submodule_search_locations]
    # an imported package may have added its own subfolders to its path: hide the top only
    return tuple(_without_nested(set(folders)))


def readable_paths(hidden: tuple[str, ...] = ()) -> ReadablePaths:
    """The system, the Python installation and its site-packages, and this package and `course`."""
    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             os.path.dirname(os.path.realpath(sys.executable)), GRADER_DIR}
    roots.update(os.path.dirname(os.path.abspath(p)) for p in (sys.executable,))
    for entry in sys.path:
        if entry and os.path.isdir(entry) and ("site-packages" in entry or "dist-packages" in entry):
            roots.add(os.path.abspath(entry))
    try:
        import course  # the course's helpers, which notebooks import

        roots.add(os.path.dirname(os.path.abspath(course.__file__)))
    except ImportError:
        pass
    roots.update(p for p in SYSTEM_ROOTS if os.path.lexists(p))
    # Never the folders the grader reads submissions from or writes to: only code and the system.
    return ReadablePaths(tuple(_without_nested({r for r in roots if os.path.lexists(r)})), hidden)


# ---- identity ------------------------------------------------------------------------------------

def _uid_ranges() -> list[tuple[int, int]]:
    """Ranges of user ids (start, count) that exist in this process's user namespace."""
    ranges = []
    try:
        for line in Path("/proc/self/uid_map").read_text().splitlines():
            inside, _, count = (int(x) for x in line.split())
            ranges.append((inside, count))
    except (OSError, ValueError):
        pass
    return ranges


def is_privileged() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def unreachable_for_others(in_namespaces: bool) -> str | None:
    """Why an unprivileged user could not run the grader's Python, or None.

    In bubblewrap's namespaces the installation is mounted at its own path below folders anyone
    may enter; without them, its real folders must let others in (Python in /root, as pyenv
    installs it for root, does not)."""
    needed = [(os.path.realpath(sys.executable), os.X_OK | os.R_OK),
              (os.path.realpath(os.path.join(GRADER_DIR, "__init__.py")), os.R_OK)]
    for path, _ in list(needed):
        folder = os.path.dirname(path)
        while folder not in ("/", ""):
            if not in_namespaces or folder == os.path.dirname(path):
                needed.append((folder, os.X_OK))
            folder = os.path.dirname(folder)
    for path, access in needed:
        try:
            mode = os.stat(path).st_mode
        except OSError:
            continue
        if (access & os.R_OK and not mode & stat.S_IROTH) or (access & os.X_OK and not mode & stat.S_IXOTH):
            return f"{path} is not open to other users, so an unprivileged sandbox could not run Python"
    return None


def sandbox_uid() -> int | None:
    """An unprivileged user id with no account, for one sandbox of a root grader; None if none
    is available in this user namespace."""
    ranges = [(s, c) for s, c in _uid_ranges() if c > 1]
    for _ in range(20):
        uid = SANDBOX_UID_BASE + random.randrange(SANDBOX_UID_SPAN)
        if not any(s <= uid < s + c for s, c in ranges):
            break
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    for start, count in ranges:  # a container with a remapped range: take from its top
        for uid in range(start + count - 2, max(start, start + count - 5000), -1):
            if uid <= 0:
                break
            try:
                pwd.getpwuid(uid)
            except KeyError:
                return uid
    return None


# ---- bubblewrap ----------------------------------------------------------------------------------

def bwrap_binary() -> str | None:
    chosen = os.environ.get("GRADER_BWRAP")
    if chosen is not None:
        return chosen if os.access(chosen, os.X_OK) else None
    return shutil.which("bwrap")


def _parents(path: str) -> list[str]:
    parents = []
    parent = os.path.dirname(path)
    while parent not in ("/", ""):
        parents.append(parent)
        parent = os.path.dirname(parent)
    return parents[::-1]


def bwrap_argv(bwrap: str, privileged: bool, paths: ReadablePaths, home_bytes: int,
               binds: list[tuple[str, str, bool]], command: list[str]) -> list[str]:
    """The bwrap command line for one sandbox.

    *binds* are extra (host path, inside path, writable) pairs: the launcher's configuration,
    the kernel's connection file and its socket folder."""
    argv = [bwrap, "--die-with-parent", "--new-session", "--unshare-ipc", "--unshare-pid",
            "--unshare-net", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "sandbox"]
    if privileged:
        # Root needs no user namespace for the others; the launcher uses these three
        # capabilities to hand its home to an unprivileged uid and become it, then has none.
        argv += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_CHOWN"]
    else:
        argv += ["--unshare-user", "--disable-userns"]
    targets = [p for p in paths.roots] + [inside for _, inside, _ in binds] + [INSIDE_HOME, "/dev/shm"]
    made: set[str] = set()
    for target in targets:
        for parent in _parents(target):
            if parent not in made and parent not in ("/dev", "/proc"):
                made.add(parent)
                argv += ["--perms", "0755", "--dir", parent]
    for root in paths.roots:
        if os.path.islink(root) and root in SYSTEM_ROOTS:  # /lib -> usr/lib on merged-usr systems
            argv += ["--symlink", os.readlink(root), root]
        else:
            argv += ["--ro-bind", root, root]
    for hidden in paths.hidden:
        argv += ["--perms", "0555", "--tmpfs", hidden,
                 "--ro-bind", HIDDEN_PACKAGE, os.path.join(hidden, "__init__.py"), "--remount-ro", hidden]
    argv += ["--proc", "/proc", "--dev", "/dev",
             "--ro-bind-try", "/sys/devices/system/cpu", "/sys/devices/system/cpu",
             "--perms", "1777", "--size", str(home_bytes), "--tmpfs", "/dev/shm",
             "--perms", "0700", "--size", str(home_bytes), "--tmpfs", INSIDE_HOME]
    for host, inside, writable in binds:
        argv += ["--bind" if writable else "--ro-bind", host, inside]
    argv += ["--remount-ro", "/", "--chdir", INSIDE_HOME, "--", *command]
    return argv


def _userns_hint() -> str:
    """Why unprivileged user namespaces may be off, and what to do."""
    checks = [
        ("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "1",
         "Ubuntu 23.10 and later restrict unprivileged user namespaces through AppArmor: install "
         "the bwrap profile described in the instructors' appendix, or grade as root"),
        ("/proc/sys/kernel/unprivileged_userns_clone", "0",
         "unprivileged user namespaces are disabled (sysctl kernel.unprivileged_userns_clone=1 "
         "enables them), or grade as root"),
        ("/proc/sys/user/max_user_namespaces", "0",
         "user namespaces are disabled (sysctl user.max_user_namespaces is 0)"),
    ]
    for path, value, hint in checks:
        try:
            if Path(path).read_text().strip() == value:
                return hint
        except OSError:
            continue
    return ""


def _probe_bwrap(bwrap: str, privileged: bool, paths: ReadablePaths) -> str | None:
    """Run a trivial sandbox: None if it works, else why not."""
    argv = bwrap_argv(bwrap, privileged, paths, 1 << 20, [], [sys.executable, "-S", "-c", ""])
    try:
        run = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run: {exc}"
    if run.returncode == 0:
        return None
    message = run.stderr.decode(errors="replace").strip().splitlines()
    why = message[-1][:300] if message else f"bwrap exited with status {run.returncode}"
    hint = "" if privileged else _userns_hint()
    return f"{why}" + (f" ({hint})" if hint else "")


# ---- the probe -----------------------------------------------------------------------------------

GUARANTEES = {
    "namespaces": "own processes, network, files and IPC (bubblewrap namespaces): sees no other "
                  "process, no network at all, no solutions or other submissions, not the packages its "
                  "exercise hides (such as Keras); nothing outlives it",
    "identity": "never root (an unprivileged user id of its own)",
    "cgroup": "memory (shared memory and memfd included), process count and CPU bounded (cgroup)",
    "landlock": "inner file, TCP and signal rules (Landlock)",
    "seccomp": "no network sockets and no user namespaces (seccomp)",
}


@lru_cache(maxsize=1)
def probe() -> Confinement:
    """What this machine offers; cached, so a batch probes once."""
    privileged = is_privileged()
    paths = readable_paths()
    layers = []
    bwrap = bwrap_binary()
    if bwrap is None:
        missing = ("bubblewrap is not installed (Debian and Ubuntu: apt-get install bubblewrap)"
                   if "GRADER_BWRAP" not in os.environ else
                   f"bubblewrap is not available at GRADER_BWRAP={os.environ['GRADER_BWRAP']!r}")
    else:
        missing = _probe_bwrap(bwrap, privileged, paths)
    layers.append(Layer("namespaces", GUARANTEES["namespaces"], missing))
    if missing:
        bwrap = None
    identity_missing = None
    if privileged:
        identity_missing = unreachable_for_others(in_namespaces=bwrap is not None)
        if identity_missing is None and sandbox_uid() is None:
            identity_missing = "no unprivileged user id is mapped in this user namespace"
        layers.append(Layer("identity", GUARANTEES["identity"], identity_missing))
    groups, why = cgroups.batch_cgroups()
    layers.append(Layer("cgroup", GUARANTEES["cgroup"], why))
    abi = landlock.abi_version()
    layers.append(Layer("landlock", GUARANTEES["landlock"],
                        None if abi >= 4 else ("Landlock is not available (Linux 5.13 or newer)" if abi < 1
                                               else f"Landlock ABI {abi} has no network rules (Linux 6.7 or newer)")))
    layers.append(Layer("seccomp", GUARANTEES["seccomp"], seccomp.supported()))
    # Without an unprivileged uid to run as, a root grader's sandboxes stay root, confined by the
    # other layers; the instructor is told.
    return Confinement(tuple(layers), bwrap, privileged and identity_missing is None, groups)
