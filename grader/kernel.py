"""A sandboxed IPython kernel, driven from the grader's side.

`SandboxedKernel` starts `grader.sandbox` (which confines itself and starts ipykernel), talks to
the kernel over ZMQ with jupyter_client, and enforces every limit from outside the sandbox:

- a time limit per cell, then an interrupt, then a kill;
- a memory watchdog on the whole process tree;
- output capped while it arrives: what exceeds the cap is counted, not kept;
- on stop, the launcher, the kernel's process group and any orphan the grader adopted are killed.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file

PR_SET_CHILD_SUBREAPER = 36
_adopting = False  # set once this process is a child subreaper (the command line only)


@dataclass
class Limits:
    cell_seconds: float = 60.0
    total_seconds: float = 300.0
    memory_mb: int = 2048
    output_bytes: int = 200_000  # stdout kept per cell (the harness's answer line is in it)
    flood_bytes: int = 20_000_000  # output of any kind after which a cell is stopped
    file_size_mb: int = 64
    startup_seconds: float = 60.0
    require_confinement: bool = False


@dataclass
class CellResult:
    status: str  # "ok", "error", "timeout", "flood", "died", "died_after_timeout", "memory",
    #              "garbled", "total_timeout", "not_running" (dead before the cell began)
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
    seen: int = 0  # bytes of every kind of output, to stop a flood early
    error: str = ""


class KernelDied(Exception):
    pass


def become_subreaper() -> None:
    """Adopt orphans of submissions (a daemon whose launcher was killed) so they can be swept."""
    global _adopting
    if sys.platform.startswith("linux"):
        import ctypes

        _adopting = ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _readable_roots() -> list[str]:
    """What a kernel must read: the Python installation, site-packages, and this package."""
    import grader

    roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             os.path.dirname(os.path.dirname(grader.__file__)) + "/grader"}
    for entry in sys.path:
        if entry and os.path.isdir(entry) and "site-packages" in entry:
            roots.add(entry)
    try:
        import course  # the course's helpers, which notebooks import

        roots.add(os.path.dirname(course.__file__))
    except ImportError:
        pass
    # System libraries and configuration (certificates, locale, fonts); /proc and /sys for
    # what Python, numpy and TensorFlow read about the machine; the null and random devices.
    roots.update(["/usr", "/lib", "/lib64", "/bin", "/etc", "/proc", "/sys",
                  "/dev/urandom", "/dev/random", "/dev/zero"])
    return sorted(roots)


def sandbox_env(scratch: Path) -> dict[str, str]:
    """A scrubbed environment: nothing of the grader's, every tool's state in the scratch dir."""
    return {
        "PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
        "HOME": str(scratch),
        "TMPDIR": str(scratch / "tmp"),
        "MPLCONFIGDIR": str(scratch / ".matplotlib"),
        "MPLBACKEND": "Agg",
        "IPYTHONDIR": str(scratch / ".ipython"),
        "JUPYTER_CONFIG_DIR": str(scratch / ".jupyter"),
        "JUPYTER_DATA_DIR": str(scratch / ".jupyter-data"),
        "JUPYTER_RUNTIME_DIR": str(scratch / ".jupyter-runtime"),
        "KERAS_HOME": str(scratch / ".keras"),
        "LANG": "C.UTF-8",
        "PYTHONHASHSEED": "0",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_ENABLE_ONEDNN_OPTS": "0",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "GRADER_SANDBOX": "1",
    }


class SandboxedKernel:
    def __init__(self, limits: Limits, workdir: Path, deadline: float):
        self.limits = limits
        self.workdir = workdir  # grader-private: holds the scratch dir and the connection file
        self.scratch = workdir / "scratch"
        self.deadline = deadline  # time.monotonic() by which the whole submission must be done
        self.launcher: subprocess.Popen | None = None
        self.kernel_pid: int | None = None
        self.client: BlockingKernelClient | None = None
        self.confinement: str | None = None
        self.memory_exceeded = threading.Event()
        self._stop_watch = threading.Event()
        self._watch: threading.Thread | None = None

    # ---- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        for sub in ("tmp", ".matplotlib", ".ipython", ".jupyter", ".jupyter-data", ".jupyter-runtime"):
            (self.scratch / sub).mkdir(parents=True, exist_ok=True)
        conn_file = str(self.workdir / "kernel.json")
        _, info = write_connection_file(conn_file, ip="127.0.0.1", key=os.urandom(32).hex().encode())
        shutil.copy(conn_file, self.scratch / ".jupyter-runtime" / "kernel.json")
        kernel_conn = str(self.scratch / ".jupyter-runtime" / "kernel.json")
        config = {
            "scratch": str(self.scratch),
            "kernel_cmd": [sys.executable, "-m", "ipykernel_launcher", "-f", kernel_conn,
                           "--HistoryManager.enabled=False", "--IPKernelApp.quiet=True"],
            "env": sandbox_env(self.scratch),
            "address_space_mb": max(2 * self.limits.memory_mb, 4096),
            "cpu_seconds": int(self.limits.total_seconds * 2 + 60),
            "file_size_mb": self.limits.file_size_mb,
            "confine": True,
            "require_confinement": self.limits.require_confinement,
            "read_only": _readable_roots(),
            "read_write": [str(self.scratch), "/dev/null"],
            "ports": [info[k] for k in ("shell_port", "iopub_port", "stdin_port", "hb_port", "control_port")],
        }
        config_file = self.workdir / "sandbox.json"
        config_file.write_text(json.dumps(config))
        self.launcher = subprocess.Popen(
            [sys.executable, "-m", "grader.sandbox", str(config_file)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            start_new_session=True, cwd=self.workdir,
        )
        line = self._read_launcher_line()
        if "error" in line:
            raise KernelDied(f"the sandbox could not be set up: {line['error']}")
        self.kernel_pid = line["kernel_pid"]
        self.confinement = line.get("confinement")
        self._watch = threading.Thread(target=self._watch_memory, daemon=True)
        self._watch.start()
        client = BlockingKernelClient(connection_file=conn_file)
        client.load_connection_file()
        client.start_channels()
        self.client = client
        deadline = time.monotonic() + self.limits.startup_seconds
        while True:
            if not self.alive():
                raise KernelDied("the kernel exited while starting")
            try:
                client.wait_for_ready(timeout=1)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise KernelDied("the kernel did not start in time") from None

    def _read_launcher_line(self) -> dict:
        result: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: result.put(self.launcher.stdout.readline()), daemon=True).start()
        try:
            raw = result.get(timeout=self.limits.startup_seconds)
        except queue.Empty:
            raise KernelDied("the sandbox did not start in time") from None
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, TypeError):
            raise KernelDied("the sandbox failed to start") from None

    def alive(self) -> bool:
        return self.launcher is not None and self.launcher.poll() is None

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

    def _kill_tree(self) -> None:
        if self.launcher is None:
            return
        procs = self._tree()
        for sig_proc in procs:
            try:
                sig_proc.kill()
            except psutil.Error:
                pass
        try:
            os.killpg(self.launcher.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        psutil.wait_procs(procs, timeout=2)

    def stop(self) -> None:
        """End the kernel and everything it started; safe to call more than once."""
        self._stop_watch.set()
        if self.client is not None:
            self.client.stop_channels()
            self.client = None
        if self.launcher is not None:
            if self.launcher.poll() is None:
                self.launcher.terminate()  # the launcher kills its descendants and exits
                try:
                    self.launcher.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    pass
            self._kill_tree()
            try:
                self.launcher.wait(timeout=2)
            except subprocess.TimeoutExpired:
                pass
            if self.launcher.stdout:
                self.launcher.stdout.close()
        sweep_orphans(keep_launchers=True)

    # ---- execution --------------------------------------------------------------------------
    def remaining_seconds(self) -> float:
        return self.deadline - time.monotonic()

    def execute(self, code: str, timeout: float | None = None) -> CellResult:
        """Run one cell; never raises for anything the code does."""
        began = time.monotonic()
        timeout = min(timeout or self.limits.cell_seconds, self.remaining_seconds())
        if timeout <= 0:
            return CellResult("total_timeout")
        if not self.alive() or self.client is None:
            # Dead before this cell began: the previous cell killed it (its death can be noticed
            # only now, on a busy machine), so the caller blames that one.
            return CellResult("not_running")
        run = _Run()
        msg_id = self.client.execute(code, silent=False, store_history=False,
                                     allow_stdin=False, stop_on_error=False)
        deadline = began + timeout
        status = self._collect(msg_id, run, deadline)
        if status in ("timeout", "flood"):
            stopped = self._interrupt(msg_id, run)
            status = status if stopped in ("ok", "error", "flood") else stopped
        if status in ("ok", "error") and not self.alive():
            status = "died"  # for example, the code killed its sandbox launcher
        if self.memory_exceeded.is_set():
            status = "memory"
        if status == "timeout" and self.remaining_seconds() <= 0:
            status = "total_timeout"
        return CellResult(status=status, stdout="".join(run.stdout), error=run.error,
                          truncated_bytes=run.dropped, seconds=time.monotonic() - began)

    def _collect(self, msg_id: str, run: _Run, deadline: float) -> str:
        """Read iopub until the cell is idle; keep at most the output cap."""
        status = "ok"
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            try:
                msg = self.client.get_iopub_msg(timeout=min(left, 0.25))
            except queue.Empty:
                if not self.alive():
                    return "memory" if self.memory_exceeded.is_set() else "died"
                continue
            except Exception:  # a message that does not parse: the kernel's messaging was tampered with
                self._kill_tree()
                return "garbled"
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            content = msg.get("content", {})
            if kind in ("stream", "display_data", "execute_result", "update_display_data"):
                run.seen += len(str(content.get("text", content.get("data", ""))))
                if run.seen > self.limits.flood_bytes:
                    return "flood"
            if kind == "stream" and content.get("name") == "stdout":
                self._keep(run, str(content.get("text", "")))
            elif kind == "error":
                status = "error"
                run.error = f"{content.get('ename', 'Error')}: {str(content.get('evalue', ''))[:300]}"
            elif kind == "status" and content.get("execution_state") == "idle":
                return status

    def _keep(self, run: _Run, text: str) -> None:
        room = self.limits.output_bytes - run.kept
        if room > 0:
            run.stdout.append(text[:room])
            run.kept += min(len(text), room)
        run.dropped += max(len(text) - max(room, 0), 0)

    def _interrupt(self, msg_id: str, run: _Run) -> str:
        """Interrupt a cell that ran too long; kill the kernel if it does not stop."""
        if self.kernel_pid is not None:
            try:
                os.kill(self.kernel_pid, signal.SIGINT)
            except ProcessLookupError:
                return "died"
        run.seen = -10**12  # let the interrupted cell finish printing whatever it had queued
        status = self._collect(msg_id, run, time.monotonic() + 3)
        if status == "timeout":  # the code ignored the interrupt
            self._kill_tree()
            return "died_after_timeout"
        return status


def sweep_orphans(keep_launchers: bool) -> None:
    """Kill what the grader adopted as subreaper: orphans of submissions whose launcher died.

    Between submissions the launchers of other running jobs are kept; at the end of a batch
    nothing is. Only the command line adopts orphans, so a library caller's children are safe.
    """
    if not _adopting:
        return
    for child in psutil.Process().children():
        if keep_launchers and _is_launcher(child):
            continue
        try:
            child.kill()
            child.wait(timeout=1)
        except psutil.Error:
            pass


def _is_launcher(proc: psutil.Process) -> bool:
    try:
        cmd = proc.cmdline()
    except psutil.Error:
        return False
    return len(cmd) >= 3 and cmd[1:3] == ["-m", "grader.sandbox"]


def new_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="grader-"))
