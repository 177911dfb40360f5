"""A sandboxed IPython kernel, driven from the grader's side.

`SandboxedKernel` starts the launcher grader/sandbox/launcher.py (which confines itself further
and starts ipykernel) inside the isolation layers grader.sandbox.isolation found on this machine.
Where bubblewrap works, the launcher only holds the sandbox open, and a fork of the fork server
(grader.forkserver), which has imported ipykernel already, joins the sandbox, confines itself the
same way and becomes the kernel. The grader talks to the kernel over ZMQ on Unix sockets in a
folder it shares with the sandbox (the sandbox has no network at all), through a relay that
counts every byte the kernel sends (grader.relay), and
enforces every limit from outside the sandbox:

- a time limit per cell, then an interrupt, then a kill;
- memory, process count and CPU through the sandbox's cgroup (a watchdog on the process tree
  where there is no cgroup);
- output capped while it arrives: every byte the kernel sends counts, whatever cell its message
  claims to belong to, and the relay stops reading at the cap; stdout beyond its own cap is
  counted, not kept, and a message too large to be output is never parsed;
- on stop, the sandbox's PID namespace and cgroup are killed whole, so nothing it started
  survives (without namespaces: the launcher, the kernel's process group and any orphan the
  grader adopted).
"""

from __future__ import annotations

import json
import os
import queue
import select
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import psutil
import zmq
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

from . import forkserver
from .sandbox import isolation
from .relay import Relay

PR_SET_CHILD_SUBREAPER = 36
_adopting = False  # set once this process is a child subreaper (the command line only)
# Held while a launcher is spawned and while orphans are swept: between fork and exec a new
# launcher looks like any other child of the grader, and a sweep in another thread (a pool's
# stop, issue 16) must not take it for an orphan.
_SPAWNING = threading.Lock()
CHANNELS = ("shell", "iopub", "stdin", "hb", "control")
MESSAGE_BYTES = 8 * 2**20  # a larger message is counted and dropped unparsed (no output is this big)
MAX_FRAMES = 64  # the frames of one message that are kept (Jupyter messages have a handful)
STDERR_KEPT = 4096  # bytes of a failing sandbox's error output that the grader reads
SEND_MS = 10_000  # a request the kernel's connection does not take in this time fails
# A sandbox's home (a tmpfs) and /dev/shm count against its memory limit; cap each anyway.
HOME_SHARE = 2
# A cell that ran out of time while its sandbox held this share of its memory limit (anonymous
# memory and shmem) is treated as out of memory.
MEMORY_FULL = 0.9


@dataclass
class Limits:
    cell_seconds: float = 60.0
    total_seconds: float = 300.0
    memory_mb: int = 2048
    output_bytes: int = 200_000  # stdout kept per cell (the harness's answer line is in it)
    flood_bytes: int = 20_000_000  # messages of any kind after which a cell is stopped
    file_size_mb: int = 64
    startup_seconds: float = 60.0
    max_processes: int = 1024  # processes and threads of one sandbox (TensorFlow starts one per core, and more)
    cpus: float | None = None  # CPUs one sandbox may use; None: all of them
    require_confinement: bool = False
    hidden_modules: tuple[str, ...] = ()  # top-level packages the submission cannot import
    fork_server: bool = True  # fork kernels into their sandboxes where bubblewrap works (grader.forkserver)


class CellStatus(StrEnum):
    """How the run of one cell ended. A StrEnum, so it still equals its string value."""

    OK = "ok"
    ERROR = "error"  # the cell raised: CellResult.error says what
    TIMEOUT = "timeout"  # ran past its time limit and stopped when interrupted
    FLOOD = "flood"  # sent more messages than the flood limit and was stopped
    DIED = "died"  # the kernel is gone (crashed, exited, killed its launcher)
    DIED_AFTER_TIMEOUT = "died_after_timeout"  # ignored the interrupt and was killed
    MEMORY = "memory"  # the sandbox ran out of its memory limit
    GARBLED = "garbled"  # the kernel's messages were tampered with; it was killed
    TOTAL_TIMEOUT = "total_timeout"  # the notebook's total time ran out
    NOT_RUNNING = "not_running"  # dead before the cell began: the previous cell is to blame


@dataclass
class CellResult:
    status: CellStatus
    stdout: str = ""
    error: str = ""  # "ExceptionName: message" for status "error"
    truncated_bytes: int = 0
    seconds: float = 0.0


@dataclass
class _Run:
    """Bookkeeping of one execute request while its messages arrive."""
    stdout: list[str] = field(default_factory=list)
    kept: int = 0
    dropped: int = 0
    error: str = ""


class KernelDied(Exception):
    pass


@dataclass(frozen=True)
class _Layout:
    """Where one sandbox's files are, on the host and inside."""
    ipc: Path  # the kernel's sockets, shared with the sandbox
    relay: Path  # the grader's ends of the relay, private to it
    client_file: Path  # the grader's connection file (through the relay)
    ports: list[int]
    paths: isolation.ReadablePaths
    binds: list[tuple[str, str, bool]]  # (host path, inside path, writable) for bwrap
    inside_config: str  # the launcher's configuration, as the launcher sees it


_GARBLED = object()  # a message that does not parse or is not signed with the session key


def become_subreaper() -> None:
    """Adopt orphans of submissions (a daemon whose launcher was killed) so they can be swept."""
    global _adopting
    if sys.platform.startswith("linux"):
        import ctypes

        _adopting = ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


# What a kernel may read beyond the readable roots, where it is not in namespaces of its own (in
# them, /proc shows only the sandbox and /sys only the CPU topology).
DIRECT_EXTRAS = ("/proc", "/sys", "/dev/urandom", "/dev/random", "/dev/zero")
SANDBOX_EXTRAS = ("/proc", "/sys/devices/system/cpu", "/dev/urandom", "/dev/random", "/dev/zero",
                  isolation.INSIDE_RUN + "/sandbox.json", isolation.INSIDE_RUN + "/kernel.json")
LAUNCHER = str(Path(__file__).parent / "sandbox" / "launcher.py")
KERNEL_MAIN = str(Path(__file__).parent / "sandbox" / "kernel_main.py")  # ipykernel's, without debugpy
HOME_DIRS = ("tmp", ".matplotlib", ".ipython", ".jupyter", ".jupyter-data", ".jupyter-runtime")


def sandbox_env(home: str) -> dict[str, str]:
    """A scrubbed environment: nothing of the grader's, every tool's state in the home folder."""
    return {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        "HOME": home,
        "TMPDIR": f"{home}/tmp",
        "MPLCONFIGDIR": f"{home}/.matplotlib",
        "MPLBACKEND": "Agg",
        "IPYTHONDIR": f"{home}/.ipython",
        "JUPYTER_CONFIG_DIR": f"{home}/.jupyter",
        "JUPYTER_DATA_DIR": f"{home}/.jupyter-data",
        "JUPYTER_RUNTIME_DIR": f"{home}/.jupyter-runtime",
        "KERAS_HOME": f"{home}/.keras",
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "GRADER_SANDBOX": "1",
    }


def fork_server_key(limits: Limits, confinement: isolation.Confinement) -> tuple | None:
    """Which of the process's fork servers serves this kind of sandbox; None: none may."""
    if not limits.fork_server or confinement.bwrap is None:
        return None
    return (confinement.bwrap, confinement.privileged, limits.hidden_modules)


def fork_server(limits: Limits, confinement: isolation.Confinement) -> forkserver.ForkServer | None:
    """The process's fork server for kernels with these limits, started on first use; None
    where kernels start from the launcher."""
    key = fork_server_key(limits, confinement)
    if key is None:
        return None
    with _SPAWNING:  # the server is the grader's child too: no sweep may take it for an orphan
        return forkserver.shared(key, sandbox_env(isolation.INSIDE_HOME), limits.hidden_modules)


# Run by /bin/sh before bwrap: join the sandbox's cgroup, so that every process of the sandbox is
# in it from its first instruction on. Arguments: N, N cgroup.procs files, then the command.
JOIN_CGROUP = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'


def _ns_pid(pid: int) -> int | None:
    """A process's pid in its own (innermost) PID namespace."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return int(line.split()[-1])
    except (OSError, ValueError):
        return None
    return None


class SandboxedKernel:
    def __init__(self, limits: Limits, workdir: Path, deadline: float,
                 confinement: isolation.Confinement | None = None):
        self.limits = limits
        self.workdir = workdir  # grader-private: the connection files, the sockets folder
        self.deadline = deadline  # time.monotonic() by which the whole submission must be done
        self.confinement = confinement or isolation.probe()
        self.launcher: subprocess.Popen | None = None
        self.kernel_pid: int | None = None  # on the host
        # pidfds of the kernel and of the launcher inside the sandbox: a signal can never reach a
        # reused pid, and either's death shows at once, before the namespace has collapsed.
        self._kernel_handle: int | None = None
        self._launcher_handle: int | None = None
        self.client: BlockingKernelClient | None = None
        self.context: zmq.Context | None = None
        self.relay: Relay | None = None
        self.problem: str | None = None  # what the launcher could not apply inside
        self.forked = False  # forked from the fork server, rather than started by the launcher
        self.group = None  # the sandbox's cgroup
        self.memory_exceeded = threading.Event()
        self._stop_watch = threading.Event()
        self._watch: threading.Thread | None = None

    # ---- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        server = fork_server(self.limits, self.confinement)
        layout = self._prepare(hold=server is not None)
        command = self._command(layout)
        with _SPAWNING:
            self.launcher = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True, cwd=self.workdir,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},  # no secrets
            )
        line = self._read_launcher_line()
        if "error" in line:
            raise KernelDied(f"the sandbox could not be set up: {str(line['error'])[:300]}")
        if server is None:
            self.problem = line.get("confinement")
            kernel, launcher = self._host_pids(line.get("kernel_pid"), line.get("launcher_pid"))
        else:  # the launcher holds the sandbox open, and a fork of the server becomes its kernel
            (launcher,) = self._host_pids(line.get("launcher_pid"))
            procs = [str(p) for p in self.group.procs_files] if self.group is not None else []
            try:
                kernel, self.problem = server.fork(launcher, procs, layout.inside_config)
            except forkserver.ForkFailed as exc:
                # The sandbox is there and the server answered, yet the fork failed: it would fail
                # for every submission (a server that died is started again instead).
                if self.alive() and not isinstance(exc, forkserver.ServerGone):
                    forkserver.give_up(fork_server_key(self.limits, self.confinement), str(exc))
                raise KernelDied(f"the sandbox could not be set up: {exc}") from None
            self.forked = True
        self._watch_processes(kernel, launcher)
        if self.group is None:
            self._watch = threading.Thread(target=self._watch_memory, daemon=True)
            self._watch.start()
        self._wait_for_sockets(layout.ipc, layout.ports)
        self.relay = Relay([(layout.relay / f"k-{port}", layout.ipc / f"k-{port}") for port in layout.ports])
        self.relay.allow(self.limits.flood_bytes)
        self.relay.start()
        self.context = zmq.Context()
        # A request to a kernel whose connection is gone must fail, never wait forever.
        self.context.setsockopt(zmq.SNDTIMEO, SEND_MS)
        client = BlockingKernelClient(connection_file=str(layout.client_file), context=self.context)
        client.load_connection_file()
        # No stdin (input() must fail), no heartbeat (the pidfds tell a death at once), no control.
        client.start_channels(shell=True, iopub=True, stdin=False, hb=False, control=False)
        self.client = client
        try:
            self._wait_until_ready(time.monotonic() + self.limits.startup_seconds)
        except zmq.ZMQError:
            raise KernelDied("the kernel's sockets did not answer") from None

    def _prepare(self, hold: bool = False) -> _Layout:
        """The sandbox's folders, its connection files and the launcher's configuration
        (*hold*: the launcher only holds the sandbox open for a forked kernel)."""
        limits, confinement = self.limits, self.confinement
        in_namespaces = confinement.bwrap is not None
        uid = isolation.sandbox_uid() if confinement.privileged else None
        workdir = self.workdir
        ipc, relay = workdir / "ipc", workdir / "relay"  # the kernel's sockets; the grader's ends
        ipc.mkdir(mode=0o700)
        relay.mkdir(mode=0o700)
        if in_namespaces:
            home, run, inside_ipc = isolation.INSIDE_HOME, isolation.INSIDE_RUN, f"{isolation.INSIDE_RUN}/ipc"
        else:
            home, run, inside_ipc = str(workdir / "home"), str(workdir), str(ipc)
            Path(home).mkdir(mode=0o700)
            os.chmod(workdir, 0o711)  # the sandbox's user may pass through to its folders
        if uid is not None:
            os.chown(ipc, uid, uid)
        key = os.urandom(32).hex().encode()
        client_file = workdir / "client.json"
        _, info = write_connection_file(str(client_file), ip=str(relay / "k"), key=key, transport="ipc")
        kernel_file = workdir / "kernel.json"
        kernel_file.write_text(json.dumps({**info, "key": key.decode(), "ip": f"{inside_ipc}/k"}))
        kernel_file.chmod(0o644)  # for the sandbox's user; the folder around it stays private
        paths = isolation.readable_paths(hidden=isolation.package_folders(limits.hidden_modules))
        config_file = workdir / "sandbox.json"
        extras = SANDBOX_EXTRAS if in_namespaces else DIRECT_EXTRAS + (str(kernel_file), str(config_file))
        config = {
            "home": home,
            "uid": uid,
            "make_dirs": list(HOME_DIRS),
            "kernel_cmd": [sys.executable, KERNEL_MAIN, "-f", f"{run}/kernel.json",
                           "--HistoryManager.enabled=False", "--IPKernelApp.quiet=True"],
            "env": sandbox_env(home),
            "address_space_mb": max(2 * limits.memory_mb, 4096),
            "cpu_seconds": int(limits.total_seconds * 2 + 60),
            "file_size_mb": limits.file_size_mb,
            "require_confinement": limits.require_confinement,
            "hold": hold,
            "read_only": [*paths.roots, *extras],
            "read_write": [home, "/dev/shm", "/dev/null"] if in_namespaces else [home, "/dev/null"],
            "sockets_only": [inside_ipc],
        }
        config_file.write_text(json.dumps(config))
        config_file.chmod(0o644)
        binds = [(str(config_file), f"{run}/sandbox.json", False),
                 (str(kernel_file), f"{run}/kernel.json", False), (str(ipc), inside_ipc, True)]
        return _Layout(ipc, relay, client_file, [info[f"{name}_port"] for name in CHANNELS],
                       paths, binds, f"{run}/sandbox.json")

    def _command(self, layout: _Layout) -> list[str]:
        """The launcher, inside bubblewrap where it works, joining the sandbox's cgroup first."""
        argv = [sys.executable, "-I", "-S", LAUNCHER, layout.inside_config]
        confinement = self.confinement
        memory = self.limits.memory_mb * 2**20
        if confinement.bwrap is not None:
            argv = isolation.bwrap_argv(confinement.bwrap, confinement.privileged, layout.paths,
                                        memory // HOME_SHARE, layout.binds, argv)
        if confinement.cgroups is not None:
            self.group = confinement.cgroups.create(memory, self.limits.max_processes, self.limits.cpus)
            procs = [str(p) for p in self.group.procs_files]
            argv = ["/bin/sh", "-c", JOIN_CGROUP, "sh", str(len(procs)), *procs, *argv]
        return argv

    def _wait_until_ready(self, deadline: float) -> None:
        """Until the kernel answers on its shell socket and its output reaches the grader.

        jupyter_client's wait_for_ready also waits for a heartbeat and for a quiet output
        channel, some 0.4 s of every start; a reply, and the status message published for the
        same request, say as much."""
        while True:
            if not self.alive():
                raise KernelDied("the kernel exited while starting")
            if time.monotonic() > deadline:
                raise KernelDied("the kernel did not start in time")
            request = self.client.kernel_info()
            answered = False
            until = min(time.monotonic() + 1, deadline)
            while not answered and time.monotonic() < until:
                try:
                    reply = self.client.get_shell_msg(timeout=0.05)
                except queue.Empty:
                    if not self.alive():
                        raise KernelDied("the kernel exited while starting") from None
                    continue
                answered = reply.get("parent_header", {}).get("msg_id") == request
            if not answered:
                continue
            until = min(time.monotonic() + 0.5, deadline)
            while time.monotonic() < until:  # the output channel may connect a moment later
                got = self._receive(0.05)
                if got and isinstance(got[1], dict) and got[1].get("parent_header", {}).get("msg_id") == request:
                    return

    def _read_launcher_line(self) -> dict:
        result: queue.Queue = queue.Queue()
        stdout = self.launcher.stdout
        threading.Thread(target=lambda: result.put(stdout.readline(4096)), daemon=True).start()
        try:
            raw = result.get(timeout=self.limits.startup_seconds)
        except queue.Empty:
            raise KernelDied("the sandbox did not start in time") from None
        try:
            line = json.loads(raw)
            if not isinstance(line, dict):
                raise TypeError
        except (json.JSONDecodeError, TypeError, UnicodeDecodeError):
            why = self._setup_error()
            raise KernelDied("the sandbox failed to start" + (f": {why}" if why else "")) from None
        # Nothing more is read from the sandbox this way: close both pipes, so that whatever
        # writes to them later gets an error instead of filling the grader's memory.
        stdout.close()
        self.launcher.stderr.close()
        return line

    def _setup_error(self) -> str:
        """The last line bwrap or the launcher wrote to stderr when the sandbox failed."""
        try:
            self.launcher.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return ""
        try:
            os.set_blocking(self.launcher.stderr.fileno(), False)
            text = (self.launcher.stderr.read(STDERR_KEPT) or b"").decode(errors="replace")
        except (OSError, ValueError):
            return ""
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return lines[-1][:300] if lines else f"exit status {self.launcher.returncode}"

    def _host_pids(self, *ns_pids: object) -> list[int]:
        """Host pids of processes of the sandbox, from their pids inside it."""
        if not all(isinstance(pid, int) for pid in ns_pids):
            raise KernelDied("the sandbox failed to start")
        try:
            root = psutil.Process(self.launcher.pid)  # bwrap, or the launcher itself
            candidates = [root, *root.children(recursive=True)]
        except psutil.Error:
            raise KernelDied("the sandbox exited while starting") from None
        found: dict[int, int] = {}
        for proc in candidates:
            ns_pid = _ns_pid(proc.pid) or proc.pid  # no /proc (macOS): no namespaces either
            if ns_pid in ns_pids and ns_pid not in found:
                found[ns_pid] = proc.pid
        if any(pid not in found for pid in ns_pids):
            raise KernelDied("the kernel exited while starting")
        return [found[pid] for pid in ns_pids]

    def _watch_processes(self, kernel: int, launcher: int) -> None:
        """pidfds of the kernel and the launcher (host pids)."""
        self.kernel_pid = kernel
        try:
            self._kernel_handle = os.pidfd_open(kernel)
            self._launcher_handle = os.pidfd_open(launcher)
        except (AttributeError, OSError):  # Linux before 5.3: the launcher's exit will do
            pass

    def _wait_for_sockets(self, ipc: Path, ports: list[int]) -> None:
        """Connect only once the kernel made its sockets, and only to sockets (never to a link)."""
        paths = [ipc / f"k-{port}" for port in ports]
        deadline = time.monotonic() + self.limits.startup_seconds
        while True:
            ready = True
            for path in paths:
                try:
                    mode = path.lstat().st_mode
                except FileNotFoundError:
                    ready = False
                    break
                if not stat.S_ISSOCK(mode):
                    raise KernelDied("the kernel's socket folder holds something that is not a socket")
            if ready:
                return
            if not self.alive():
                raise KernelDied("the kernel exited while starting")
            if time.monotonic() > deadline:
                raise KernelDied("the kernel did not start in time")
            time.sleep(0.01)

    def alive(self) -> bool:
        if self.launcher is None or self.launcher.poll() is not None:
            return False
        handles = [h for h in (self._kernel_handle, self._launcher_handle) if h is not None]
        if handles:  # a pidfd is readable once its process has exited
            poller = select.poll()
            for handle in handles:
                poller.register(handle, select.POLLIN)
            if poller.poll(0):
                return False
        return True

    def _tree(self) -> list[psutil.Process]:
        """The launcher, the kernel and all their descendants (the kernel's even if the
        submission killed the launcher)."""
        found: dict[int, psutil.Process] = {}
        for pid in (self.launcher.pid, self.kernel_pid):
            if pid is None:
                continue
            try:
                root = psutil.Process(pid)
                for proc in (root, *root.children(recursive=True)):
                    found[proc.pid] = proc
            except psutil.Error:
                pass
        return list(found.values())

    def _watch_memory(self) -> None:
        """Where there is no cgroup: the resident memory of the process tree (memfd files that
        are not mapped escape this count; the instructor is told that the guarantee is missing)."""
        limit = self.limits.memory_mb * 2**20
        while not self._stop_watch.wait(0.1):
            total = 0
            for proc in self._tree():
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    pass
            if total > limit:
                self.memory_exceeded.set()
                self._kill_tree()
                return

    def _memory_full(self) -> bool:
        """The sandbox holds nearly all its memory in what no reclaim can free."""
        limit = self.limits.memory_mb * 2**20
        return self.group is not None and self.group.held_bytes() >= MEMORY_FULL * limit

    def _out_of_memory(self) -> bool:
        if self.group is not None and self.group.oom_kills() > 0:
            self.memory_exceeded.set()
        return self.memory_exceeded.is_set()

    def kill(self) -> None:
        """Kill the sandbox's processes, from any thread (signals only: the kernel's sockets
        stay for stop(), which the thread using the kernel calls)."""
        try:
            self._kill_tree()
        except Exception:  # raced with this kernel's own stop() (its cgroup just removed): ended anyway
            pass

    def _kill_tree(self) -> None:
        if self.launcher is None:
            return
        procs = self._tree()
        # Where the sandbox has namespaces, killing the first process of its PID namespace (a
        # child of bwrap) ends every process in it; the cgroup catches anything else.
        for sig_proc in procs:
            try:
                sig_proc.kill()
            except psutil.Error:
                pass
        try:
            os.killpg(self.launcher.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.group is not None:
            self.group.kill()
        _wait_until_dead(procs, timeout=2)

    def stop(self) -> None:
        """End the kernel and everything it started; safe to call more than once."""
        self._stop_watch.set()
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if self.context is not None:
            self.context.destroy(linger=0)
            self.context = None
        if self.relay is not None:
            self.relay.close()
            self.relay = None
        if self.launcher is not None:
            self._kill_tree()
            try:
                self.launcher.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            for pipe in (self.launcher.stdout, self.launcher.stderr):
                if pipe and not pipe.closed:
                    pipe.close()
        for handle in (self._kernel_handle, self._launcher_handle):
            if handle is not None:
                os.close(handle)
        self._kernel_handle = self._launcher_handle = None
        if self.group is not None:
            self.group.remove()
            self.group = None
        sweep_orphans(keep_launchers=True)

    # ---- execution --------------------------------------------------------------------------
    def remaining_seconds(self) -> float:
        return self.deadline - time.monotonic()

    def execute(self, code: str, timeout: float | None = None) -> CellResult:
        """Run one cell; never raises for anything the code does."""
        began = time.monotonic()
        timeout = min(timeout or self.limits.cell_seconds, self.remaining_seconds())
        if timeout <= 0:
            return CellResult(CellStatus.TOTAL_TIMEOUT)
        if not self.alive() or self.client is None:
            # Dead before this cell began: the previous cell killed it (its death can be noticed
            # only now, on a busy machine), so the caller blames that one.
            return CellResult(CellStatus.NOT_RUNNING)
        run = _Run()
        self.relay.allow(self.relay.received + self.limits.flood_bytes)
        try:
            msg_id = self.client.execute(code, silent=False, store_history=False,
                                         allow_stdin=False, stop_on_error=False)
        except zmq.ZMQError:  # the kernel's end of the connection is gone
            self._kill_tree()
            return CellResult(CellStatus.DIED, seconds=time.monotonic() - began)
        deadline = began + timeout
        status = self._collect(msg_id, run, deadline)
        if status in (CellStatus.TIMEOUT, CellStatus.FLOOD):
            stopped = self._interrupt(msg_id, run)
            status = status if stopped in (CellStatus.OK, CellStatus.ERROR, CellStatus.FLOOD) else stopped
        if status in (CellStatus.OK, CellStatus.ERROR) and not self.alive():
            status = CellStatus.DIED  # for example, the code killed its sandbox launcher
        if status == CellStatus.TIMEOUT and self._memory_full():
            # Interrupted at its memory limit (reclaiming near it can outlast the time limit):
            # what it holds would sink the cells and task calls after it, so it is skipped on a
            # fresh kernel, as if the OOM killer had been faster.
            self._kill_tree()
            status = CellStatus.MEMORY
        if self._out_of_memory():
            status = CellStatus.MEMORY
        if status == CellStatus.TIMEOUT and self.remaining_seconds() <= 0:
            status = CellStatus.TOTAL_TIMEOUT
        return CellResult(status=status, stdout="".join(run.stdout), error=run.error,
                          truncated_bytes=run.dropped, seconds=time.monotonic() - began)

    def _receive(self, timeout: float):
        """The next iopub message as (bytes, message), (bytes, None) for one too large to read,
        (bytes, _GARBLED) for one that does not parse, or None on timeout.

        Frames are taken one at a time; none is kept past MESSAGE_BYTES."""
        sock = self.client.iopub_channel.socket
        if not sock.poll(timeout * 1000):
            return None
        frames, size, too_big = [], 0, False
        while True:
            frame = sock.recv(copy=False)
            size += len(frame)
            if size > MESSAGE_BYTES or len(frames) >= MAX_FRAMES:
                too_big, frames = True, []
            else:
                frames.append(frame)
            if not frame.more:
                break
        if too_big:
            return size, None
        session = self.client.session
        try:
            _, parts = session.feed_identities(frames, copy=False)
            return size, session.deserialize(parts, content=True, copy=False)
        except Exception:  # unsigned, truncated, not JSON: the kernel's messaging was tampered with
            return size, _GARBLED

    def _collect(self, msg_id: str, run: _Run, deadline: float) -> CellStatus:
        """Read iopub until the cell is idle; keep at most the output cap."""
        status = CellStatus.OK
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return CellStatus.TIMEOUT
            got = self._receive(min(left, 0.25))
            if got is None:
                if not self.alive():
                    return CellStatus.MEMORY if self._out_of_memory() else CellStatus.DIED
                if self.relay.exhausted:  # every byte counts, whatever cell it claims to be from
                    return CellStatus.FLOOD
                continue
            _, msg = got
            if msg is None:
                continue
            if msg is _GARBLED:
                self._kill_tree()
                return CellStatus.GARBLED
            parent = msg.get("parent_header")
            if not isinstance(parent, dict) or parent.get("msg_id") != msg_id:
                continue
            kind = msg.get("msg_type")
            content = msg.get("content")
            if not isinstance(content, dict):
                continue
            if kind == "stream" and content.get("name") == "stdout":
                self._keep(run, str(content.get("text", "")))
            elif kind == "error":
                status = CellStatus.ERROR
                run.error = f"{str(content.get('ename', 'Error'))[:100]}: {str(content.get('evalue', ''))[:300]}"
            elif kind == "status" and content.get("execution_state") == "idle":
                return status

    def _keep(self, run: _Run, text: str) -> None:
        room = self.limits.output_bytes - run.kept
        if room > 0:
            run.stdout.append(text[:room])
            run.kept += min(len(text), room)
        run.dropped += max(len(text) - max(room, 0), 0)

    def _interrupt(self, msg_id: str, run: _Run) -> CellStatus:
        """Interrupt a cell that ran too long; kill the kernel if it does not stop."""
        try:
            if self._kernel_handle is not None:
                signal.pidfd_send_signal(self._kernel_handle, signal.SIGINT)
            elif self.kernel_pid is not None:
                os.kill(self.kernel_pid, signal.SIGINT)
        except ProcessLookupError:
            return CellStatus.DIED
        except OSError:
            pass
        # Let the interrupted cell finish printing what it had queued, within a second budget.
        self.relay.allow(self.relay.received + self.limits.flood_bytes)
        status = self._collect(msg_id, run, time.monotonic() + 3)
        if status in (CellStatus.TIMEOUT, CellStatus.FLOOD):  # it ignored the interrupt, or kept flooding
            self._kill_tree()
            return CellStatus.DIED_AFTER_TIMEOUT if status == CellStatus.TIMEOUT else CellStatus.FLOOD
        return status


def _wait_until_dead(procs: list[psutil.Process], timeout: float) -> None:
    """Until every process has exited. A zombie counts as dead: it holds no memory, and one that
    is not the grader's child is reaped by whoever adopted it, which may take its time."""
    deadline = time.monotonic() + timeout
    pending = list(procs)
    while pending and time.monotonic() < deadline:
        still = []
        for proc in pending:
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    still.append(proc)
            except psutil.Error:
                pass
        pending = still
        if pending:
            time.sleep(0.005)


def sweep_orphans(keep_launchers: bool) -> None:
    """Kill what the grader adopted as subreaper: orphans of submissions whose launcher died.

    Between submissions the launchers of other running jobs are kept; at the end of a batch
    nothing is. Only the command line adopts orphans, so a library caller's children are safe.
    """
    if not _adopting:
        return
    with _SPAWNING:
        children = psutil.Process().children()
    for child in children:
        if keep_launchers and _is_launcher(child):
            continue
        try:
            child.kill()
            child.wait(timeout=1)
        except psutil.Error:
            pass


def _is_launcher(proc: psutil.Process) -> bool:
    """A sandbox's launcher, or the fork server its kernels come from."""
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return False
    return LAUNCHER in cmd or forkserver.ZYGOTE in cmd


def new_workdir() -> Path:
    """A private folder for one sandbox's files. Unix socket paths are short (108 bytes), so a
    long TMPDIR is passed over for /tmp."""
    base = tempfile.gettempdir()
    if len(base) > 60:
        base = "/tmp"
    return Path(tempfile.mkdtemp(prefix="grader-", dir=base))
