"""Resource limits for one sandbox through a control group: memory, process count and CPU.

A cgroup counts what per-process limits miss: memory held in `memfd` files, `/dev/shm` and the
sandbox's tmpfs scratch folder (all charged to the group that touched the pages), every process
and thread the submission starts, and the CPU time of all of them together. When the memory limit
is hit, the kernel's OOM killer acts inside the group only, and the group's `oom_kill` counter
tells the grader why the kernel died.

Both cgroup versions are handled:

- v2 (one unified hierarchy, the default on current distributions): groups are created below the
  grader's own group, which needs delegation (root, or `systemd-run --scope -p Delegate=yes`).
  The "no internal processes" rule means the grader first moves itself into a leaf of its group.
- v1 (a hierarchy per controller, as on this project's build machines): a group per controller.

`Cgroups.setup()` returns None and a reason when groups cannot be created; the grader then says
that this guarantee is missing (grader.sandbox.isolation).
"""

from __future__ import annotations

import atexit
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

NEEDED = ("memory", "pids", "cpu")
CPU_PERIOD_US = 100_000
_NAMING = threading.Lock()  # one group name per sandbox, whatever thread creates it


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _own_groups() -> dict[str, str]:
    """Controller name (or "" for v2) -> this process's group path, from /proc/self/cgroup."""
    groups: dict[str, str] = {}
    for line in _read(Path("/proc/self/cgroup")).splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if not controllers:
            groups[""] = path
        for name in controllers.split(","):
            if name:
                groups[name] = path
    return groups


@dataclass(frozen=True)
class _Mount:
    root: str  # the part of the hierarchy this mount shows (usually "/")
    point: Path
    kind: str  # "cgroup" or "cgroup2"
    options: frozenset[str]


def _mounts() -> list[_Mount]:
    found = []
    for line in _read(Path("/proc/self/mountinfo")).splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        point = fields[4].replace("\\040", " ")
        found.append(_Mount(fields[3], Path(point), tail[0], frozenset(tail[2].split(","))))
    return found


def _under(mount: _Mount, group: str) -> Path | None:
    """Where *group* (a path in the hierarchy) appears below *mount*."""
    root = mount.root.rstrip("/")
    if root and not (group == root or group.startswith(root + "/")):
        return None
    return mount.point / group[len(root):].lstrip("/")


@dataclass
class Group:
    """One sandbox's group (one directory per hierarchy on v1, a single one on v2)."""

    version: int
    dirs: dict[str, Path]  # controller -> directory ("" -> the v2 directory)
    oom_baseline: int = 0

    @property
    def procs_files(self) -> list[Path]:
        return [d / "cgroup.procs" for d in dict.fromkeys(self.dirs.values())]

    def pids(self) -> set[int]:
        found: set[int] = set()
        for procs in self.procs_files:
            found.update(int(p) for p in _read(procs).split() if p.isdigit())
        return found

    def oom_kills(self) -> int:
        """How many processes the OOM killer stopped in this group since it was created."""
        if self.version == 2:
            text = _read(self.dirs[""] / "memory.events")
        else:
            text = _read(self.dirs["memory"] / "memory.oom_control")
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and value.strip().isdigit():
                return int(value) - self.oom_baseline
        return 0

    def held_bytes(self) -> int:
        """Memory of the group that only ending its processes frees: anonymous memory and shmem
        (memfd files, /dev/shm, the tmpfs home). Page cache, which the group reclaims at its
        limit, is not counted."""
        if self.version == 2:
            text, keys = _read(self.dirs[""] / "memory.stat"), ("anon", "shmem")
        else:
            text, keys = _read(self.dirs["memory"] / "memory.stat"), ("total_rss", "total_shmem")
        total = 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key in keys and value.strip().isdigit():
                total += int(value)
        return total

    def kill(self, timeout: float = 5.0) -> bool:
        """SIGKILL every process of the group until it is empty; True once it is."""
        if self.version == 2 and (self.dirs[""] / "cgroup.kill").exists():
            try:
                _write(self.dirs[""] / "cgroup.kill", "1")
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            pids = self.pids()
            if not pids:
                return True
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def remove(self) -> None:
        self.kill()
        for directory in dict.fromkeys(self.dirs.values()):
            for _ in range(50):  # a killed process leaves its group a moment after it died
                try:
                    directory.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)


@dataclass
class Cgroups:
    """The batch's parent groups, below which each sandbox gets its own."""

    version: int
    parents: dict[str, Path]  # controller -> parent directory of the sandboxes' groups
    created: list[Path] = field(default_factory=list)  # to remove at exit, deepest last
    count: int = 0

    @classmethod
    def setup(cls) -> tuple[Cgroups | None, str | None]:
        """Parent groups for this batch, or None and why not."""
        if not Path("/proc/self/cgroup").exists():
            return None, "this system has no cgroups (Linux only)"
        groups, mounts = _own_groups(), _mounts()
        v1 = {m for m in mounts if m.kind == "cgroup"}
        v2 = next((m for m in mounts if m.kind == "cgroup2"), None)
        v1_controllers = {c for m in v1 for c in m.options} & set(NEEDED)
        v2_controllers = set()
        if v2 is not None and "" in groups:
            where = _under(v2, groups[""])
            if where is not None:
                v2_controllers = set(_read(where / "cgroup.controllers").split())
        try:
            if set(NEEDED) <= v2_controllers:
                return cls._setup_v2(_under(v2, groups[""])), None
            if set(NEEDED) <= v1_controllers:
                return cls._setup_v1(groups, v1), None
        except OSError as exc:
            return None, f"cannot create control groups ({exc.strerror or exc}: {exc.filename})"
        if v1_controllers or v2_controllers:
            missing = set(NEEDED) - (v1_controllers | v2_controllers)
            return None, f"the cgroup controllers {', '.join(sorted(missing))} are not available"
        return None, "no cgroup hierarchy with the memory, pids and cpu controllers is mounted"

    @classmethod
    def _setup_v1(cls, groups: dict[str, str], mounts: set[_Mount]) -> Cgroups:
        parents: dict[str, Path] = {}
        created = []
        for controller in NEEDED:
            mount = next(m for m in mounts if controller in m.options)
            own = _under(mount, groups.get(controller, "/"))
            if own is None:
                raise OSError(0, "the grader's own group is not visible", str(mount.point))
            _remove_stale(own)
            parent = own / f"lr-grader-{os.getpid()}"
            if parent not in created:
                parent.mkdir(exist_ok=True)
                created.append(parent)
            parents[controller] = parent
        return cls(1, parents, created)

    @classmethod
    def _setup_v2(cls, own: Path) -> Cgroups:
        _remove_stale(own)
        wanted = " ".join(f"+{c}" for c in NEEDED)
        parent = own / f"lr-grader-{os.getpid()}"
        created = []
        enabled = set(_read(own / "cgroup.subtree_control").split())
        if not set(NEEDED) <= enabled:
            # The rule of no internal processes: a group that hands controllers to its children
            # may hold no process itself. The grader may move itself into a leaf only if it is
            # alone in its group (a delegated scope), never other programs.
            others = {int(p) for p in _read(own / "cgroup.procs").split()} - {os.getpid()}
            if others:
                raise OSError(0, "the grader shares its cgroup with other processes; start it in a "
                                 "delegated scope (systemd-run --scope -p Delegate=yes ...)", str(own))
            leaf = own / f"lr-grader-self-{os.getpid()}"
            leaf.mkdir(exist_ok=True)
            created.append(leaf)
            _write(leaf / "cgroup.procs", str(os.getpid()))
            _write(own / "cgroup.subtree_control", wanted)
        parent.mkdir(exist_ok=True)
        created.append(parent)
        _write(parent / "cgroup.subtree_control", wanted)
        return cls(2, {"": parent}, created)

    def create(self, memory_bytes: int, max_processes: int, cpus: float | None) -> Group:
        """A new group with these limits; its cgroup.procs files are where a sandbox joins it."""
        with _NAMING:  # kernels start in several threads at once (--jobs, the kernel pool)
            self.count += 1
            name = f"sandbox-{self.count}"
        if self.version == 2:
            directory = self.parents[""] / name
            directory.mkdir()
            group = Group(2, {"": directory})
            _write(directory / "memory.max", str(memory_bytes))
            if (directory / "memory.swap.max").exists():
                _write(directory / "memory.swap.max", "0")
            _write(directory / "pids.max", str(max_processes))
            if cpus:
                _write(directory / "cpu.max", f"{int(cpus * CPU_PERIOD_US)} {CPU_PERIOD_US}")
        else:
            dirs = {c: self.parents[c] / name for c in NEEDED}
            for directory in dict.fromkeys(dirs.values()):
                directory.mkdir()
            group = Group(1, dirs)
            memory = dirs["memory"]
            _write(memory / "memory.limit_in_bytes", str(memory_bytes))
            if (memory / "memory.memsw.limit_in_bytes").exists():  # memory plus swap: no way around
                _write(memory / "memory.memsw.limit_in_bytes", str(memory_bytes))
            _write(dirs["pids"] / "pids.max", str(max_processes))
            if cpus:
                _write(dirs["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US))
                _write(dirs["cpu"] / "cpu.cfs_quota_us", str(int(cpus * CPU_PERIOD_US)))
        group.oom_baseline = group.oom_kills()
        return group

    def close(self) -> None:
        for directory in reversed(self.created):
            try:
                directory.rmdir()
            except OSError:
                pass  # the grader's own leaf (v2) stays until it exits; the system removes it
        self.created = []


def _remove_stale(own: Path) -> None:
    """Empty groups left by a grader that was killed: their pid is gone."""
    try:
        entries = list(own.glob("lr-grader-*"))
    except OSError:
        return
    for entry in entries:
        pid = entry.name.rsplit("-", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            for child in sorted(entry.glob("sandbox-*"), reverse=True):
                try:
                    child.rmdir()
                except OSError:
                    pass
            try:
                entry.rmdir()
            except OSError:
                pass


_batch: tuple[Cgroups | None, str | None] | None = None


def batch_cgroups() -> tuple[Cgroups | None, str | None]:
    """This process's parent groups, set up on first use and removed at exit."""
    global _batch
    if _batch is None:
        _batch = Cgroups.setup()
        if _batch[0] is not None:
            atexit.register(_batch[0].close)
    return _batch
