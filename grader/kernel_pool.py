"""Sandboxed kernels started ahead of need, each fresh and handed out exactly once.

Starting a sandboxed kernel (bubblewrap, the launcher, Landlock and seccomp, ipykernel's import,
the grader's prelude cell) takes longer than running a small submission. A batch knows how many
kernels it will need, so `KernelPool` starts them a few at a time in background threads: while
one submission runs, the kernel of the next is already starting on another core.

What this does not change: every kernel is started for one submission and stopped after it, with
the same sandbox and limits as a kernel started on demand. Nothing of one submission can reach a
kernel handed to another, because no kernel is ever handed out twice, and a pre-started kernel
has run nothing but the grader's own prelude. A pre-started kernel that died while it waited is
thrown away and replaced. Stopping a used kernel (killing its sandbox, removing its cgroup and
folder) happens in a background thread, so the next submission need not wait for it; `close`
waits for every stop, and stops whatever was started and not handed out.

`ahead=0` starts each kernel when it is asked for, as the grader did before this module.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Callable

from .kernel import KernelDied, Limits, SandboxedKernel, new_workdir
from .sandbox import isolation

# How many pre-started kernels that died while waiting are replaced in one take, before the
# pool says the kernel could not start (the caller then retries, as for any failed start).
REPLACEMENTS = 3


class KernelPool:
    """Fresh sandboxed kernels, *ahead* of them starting in the background.

    *prepare* runs on each new kernel before it is handed out (the grader's prelude cell). A
    kernel that dies in *prepare* counts as one that failed to start. *expected* is how many
    kernels the caller expects to take in all; the pool never starts more than that ahead of
    need, so that a batch's end does not pay for kernels nobody will use (a kernel needed beyond
    it, after a crash, starts on demand)."""

    def __init__(self, limits: Limits, confinement: isolation.Confinement | None = None,
                 prepare: Callable[[SandboxedKernel], None] | None = None, ahead: int = 0,
                 expected: int | None = None):
        self.limits = limits
        self.confinement = confinement or isolation.probe()
        self.prepare = prepare
        self.ahead = max(0, ahead)
        self._left = expected  # kernels still to start ahead of need; None: no end
        self._lock = threading.Lock()
        self._queue: deque[Future] = deque()
        self._closed = False
        self._starter = ThreadPoolExecutor(max_workers=self.ahead, thread_name_prefix="kernel-start") if self.ahead else None
        self._stopper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kernel-stop") if self.ahead else None
        self._stops: list[Future] = []
        self._in_use: set[SandboxedKernel] = set()  # taken and not yet released
        self.started = 0  # kernels whose start was begun, for tests and the record
        self.handed_out = 0
        self._fill()

    # ---- starting ---------------------------------------------------------------------------
    def _start(self) -> SandboxedKernel:
        """A started and prepared kernel, or KernelDied with everything of it cleaned up."""
        with self._lock:
            self.started += 1
        workdir = new_workdir()
        # A provisional deadline for the prelude; take() sets the submission's own.
        deadline = time.monotonic() + self.limits.startup_seconds + self.limits.cell_seconds
        kernel = SandboxedKernel(self.limits, workdir, deadline, self.confinement)
        try:
            kernel.start()
            if self.prepare is not None:
                self.prepare(kernel)
            if not kernel.alive():
                raise KernelDied("the kernel exited while it was being prepared")
        except BaseException:
            _dispose(kernel)
            raise
        return kernel

    def _fill(self) -> None:
        """Begin starts until *ahead* kernels are starting or waiting (and no more than expected)."""
        with self._lock:
            while (self._starter is not None and not self._closed and len(self._queue) < self.ahead
                   and (self._left is None or self._left > 0)):
                if self._left is not None:
                    self._left -= 1
                self._queue.append(self._starter.submit(self._start))

    def expect_fewer(self, count: int) -> None:
        """The caller will take *count* kernels fewer than it expected (a reference run whose
        values were kept from an earlier batch)."""
        with self._lock:
            if self._left is not None:
                self._left = max(0, self._left - count)

    # ---- handing out ------------------------------------------------------------------------
    def take(self, deadline: float) -> SandboxedKernel:
        """A fresh kernel for one submission, whose total time ends at *deadline*; it is this
        caller's alone. Raises KernelDied when a kernel could not be started."""
        for _ in range(REPLACEMENTS + 1):
            with self._lock:
                if self._closed:
                    raise KernelDied("the grader is shutting down")
                waiting = self._queue.popleft() if self._queue else None
            self._fill()  # the next one starts while this one is used
            try:
                kernel = waiting.result() if waiting is not None else self._start()
            except KeyboardInterrupt:  # the kernel still starting is nobody's: stop it when it is up
                if waiting is not None:
                    waiting.add_done_callback(_dispose_started)
                raise
            if not kernel.alive():  # it died while it waited: throw it away, take another
                self._stop_later(kernel)
                continue
            kernel.deadline = deadline
            with self._lock:
                closed = self._closed
                if not closed:
                    self.handed_out += 1
                    self._in_use.add(kernel)
            if closed:  # aborted while this one started: abort() could not reach it
                _dispose(kernel)
                raise KernelDied("the grader is shutting down")
            return kernel
        raise KernelDied("pre-started kernels kept dying before they were used")

    def release(self, kernel: SandboxedKernel) -> None:
        """Stop a kernel that was taken, and remove its folder: in the background when the pool
        starts kernels ahead, so the next submission does not wait for it."""
        with self._lock:
            self._in_use.discard(kernel)
        self._stop_later(kernel)

    def _stop_later(self, kernel: SandboxedKernel) -> None:
        with self._lock:
            if self._stopper is not None and not self._closed:
                self._stops.append(self._stopper.submit(_dispose, kernel))
                return
        _dispose(kernel)

    # ---- closing ----------------------------------------------------------------------------
    def abort(self) -> None:
        """Kill the sandbox of every kernel in use and hand out no more (Ctrl-C): a cell that
        runs then ends at once, as if its kernel had died, instead of at its time limit. Only
        signals are sent here; each kernel's user still stops and releases it."""
        with self._lock:
            self._closed = True
            in_use = list(self._in_use)
        for kernel in in_use:
            kernel.kill()

    def close(self) -> None:
        """Stop every kernel that was started and not handed out, and wait for every stop.
        Safe to call more than once, and after an error or KeyboardInterrupt."""
        with self._lock:
            self._closed = True
            waiting, self._queue = list(self._queue), deque()
        for future in waiting:
            future.cancel()
        if self._starter is not None:
            self._starter.shutdown(wait=True, cancel_futures=True)
        for future in waiting:
            if future.cancelled():
                continue
            try:
                kernel = future.result()
            except BaseException:  # its start failed and cleaned up after itself
                continue
            _dispose(kernel)
        if self._stopper is not None:
            self._stopper.shutdown(wait=True)

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _dispose_started(future: Future) -> None:
    if not future.cancelled() and future.exception() is None:
        _dispose(future.result())


def _dispose(kernel: SandboxedKernel) -> None:
    """Stop a kernel and remove its private folder."""
    try:
        kernel.stop()
    finally:
        shutil.rmtree(kernel.workdir, ignore_errors=True)
