"""Kernels forked into their sandboxes instead of started from nothing (issue 16, speed).

Every sandboxed kernel used to import ipykernel, IPython, numpy and scipy anew: about 0.6 s of
CPU per submission, as much as a plain nbclient run of a small notebook. A fork server
(grader/sandbox/zygote.py) imports them once per batch, and each kernel is a fork of it that
joins its sandbox's namespaces and cgroup and confines itself as the launcher would have:
about 0.06 s of CPU each (measured on this project's machines).

The sandbox itself is unchanged: bubblewrap sets up the same namespaces, mounts and cgroup,
around the launcher in "hold" mode, which keeps them open. Where bubblewrap's namespaces are not
available, or the server cannot start, kernels start from the launcher as before.

One server per (bubblewrap, root or not, hidden packages), shared by every pool of the process:
the grader's own children, so that it dies with the grader.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import subprocess
import sys
import tempfile
import threading
import time

from .sandbox import zygote
from .sandbox.zygote import start_time

# What every grading kernel imports: ipykernel and what its start imports (IPython's debugger,
# its completer and the store magic), numpy for the grader's prelude and the harness, and
# scipy.special for most exercises' tasks. Nothing an exercise can hide is loaded.
PRELOAD = ("ipykernel.kernelapp", "ipykernel.ipkernel", "IPython.core.debugger", "IPython.core.completerlib",
           "IPython.extensions.storemagic", "tornado.queues", "numpy", "scipy.special", "grader.inkernel.harness")
ZYGOTE = zygote.__file__
READY_SECONDS = 60.0  # the server's own imports, once per batch
REPLY_SECONDS = 45.0  # a fork and its confinement; the server itself gives up after 30 s


class ForkFailed(Exception):
    """This kernel could not be forked into its sandbox (the server may serve the next)."""


class ServerGone(ForkFailed):
    """The server could not start, or stopped answering."""


class ForkServer:
    """One fork server process, and the pipe to it; safe to use from several threads."""

    def __init__(self, env: dict[str, str], hidden: tuple[str, ...]):
        self._lock = threading.Lock()
        self._pending = b""
        settings = json.dumps({"preload": list(PRELOAD), "hidden": list(hidden)})
        self.process = subprocess.Popen(
            [sys.executable, ZYGOTE, settings], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            # in the grader's temporary folder, where its sandboxes' folders are: it names the batch
            stderr=subprocess.DEVNULL, cwd=tempfile.gettempdir(), env=env,
            start_new_session=True)  # Ctrl-C is the grader's to handle
        try:
            ready = self._read(READY_SECONDS)
        except ServerGone as exc:
            raise ServerGone(f"the fork server could not start: {exc}") from None
        if not ready.get("ready"):
            self.close()
            raise ServerGone(f"the fork server could not start: {ready.get('error', 'no reason given')}")
        self.preloaded: list[str] = list(ready.get("preloaded", []))

    def alive(self) -> bool:
        return self.process.poll() is None

    def fork(self, holder_pid: int, cgroup_procs: list[str], config: str) -> tuple[int, str | None]:
        """Fork a kernel into the sandbox held open by *holder_pid* (a host pid); *config* is
        the launcher's configuration as the sandbox sees it. Returns the kernel's host pid and
        what of its confinement could not be applied."""
        request = {"holder_pid": holder_pid, "holder_start": start_time(holder_pid),
                   "cgroup_procs": cgroup_procs, "config": config}
        with self._lock:
            if not self.alive():
                raise ServerGone("the fork server has exited")
            try:
                self.process.stdin.write((json.dumps(request) + "\n").encode())
                self.process.stdin.flush()
            except OSError:
                self.close()
                raise ServerGone("the fork server has exited") from None
            reply = self._read(REPLY_SECONDS)
        if "error" in reply:
            raise ForkFailed(str(reply["error"])[:300])
        if not isinstance(reply.get("kernel_pid"), int):
            raise ForkFailed("the fork server's reply named no kernel")
        return reply["kernel_pid"], reply.get("confinement")

    def _read(self, timeout: float) -> dict:
        """The server's next line, as a dict; ServerGone if it ends or stays silent."""
        deadline = time.monotonic() + timeout
        stdout = self.process.stdout.fileno()
        while b"\n" not in self._pending:
            left = deadline - time.monotonic()
            chunk = os.read(stdout, 65536) if left > 0 and select.select([stdout], [], [], left)[0] else b""
            if not chunk:
                self.close()
                raise ServerGone("the fork server stopped answering")
            self._pending += chunk
        line, self._pending = self._pending.split(b"\n", 1)
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            self.close()
            raise ServerGone("the fork server's reply was not understood")
        return reply

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            try:
                pipe.close()
            except OSError:
                pass


_servers: dict[tuple, ForkServer] = {}
_failed: dict[tuple, str] = {}  # keys whose server could not start: not tried again
_registry = threading.Lock()


def shared(key: tuple, env: dict[str, str], hidden: tuple[str, ...]) -> ForkServer | None:
    """The process's server for *key*, started on first use (and again if it has exited);
    None where one could not start, so that kernels start from the launcher."""
    with _registry:
        server = _servers.get(key)
        if server is not None and server.alive():
            return server
        if key in _failed:
            return None
        try:
            server = _servers[key] = ForkServer(env, hidden)
        except (ServerGone, OSError) as exc:
            _failed[key] = str(exc)
            return None
        return server


def failures() -> list[str]:
    """Why this process's servers could not start or were given up, for the instructor."""
    with _registry:
        return list(_failed.values())


def give_up(key: tuple, why: str) -> None:
    """No more forks for *key* in this process: a fork that failed where the sandbox itself was
    set up (a kernel without the ioctls the server needs, a policy that forbids joining
    namespaces) would fail for every submission, and kernels start from the launcher instead."""
    with _registry:
        _failed[key] = why
        server = _servers.pop(key, None)
    if server is not None:
        server.close()


@atexit.register
def close_all() -> None:
    with _registry:
        for server in _servers.values():
            server.close()
        _servers.clear()
