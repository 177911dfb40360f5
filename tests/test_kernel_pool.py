"""The pool of sandboxed kernels started ahead of need (grader.kernel_pool).

Each kernel must be fresh (it ran the grader's prelude and nothing else), handed out once, and
stopped with its folder removed, whatever happens to the batch. These start real sandboxes.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import psutil
import pytest

from grader import kernel_pool
from grader.kernel import LAUNCHER, CellStatus, KernelDied, Limits, SandboxedKernel
from grader.kernel_pool import KernelPool

LIMITS = Limits(cell_seconds=20, total_seconds=60)


def mark(kernel: SandboxedKernel) -> None:
    """A prelude that leaves a trace: a kernel that ran it twice, or ran anything of another
    submission, shows it."""
    kernel.execute("__marks = globals().get('__marks', 0) + 1\n")


def marks(kernel: SandboxedKernel) -> str:
    result = kernel.execute("print(__marks, globals().get('__used', 0))\n__used = 1\n")
    assert result.status == CellStatus.OK, result
    return result.stdout.strip()


def launchers(recursive: bool = True) -> list[psutil.Process]:
    """The sandboxes' processes (with recursive=False, one per sandbox: what the grader spawned)."""
    found = []
    for proc in psutil.Process().children(recursive=recursive):
        try:
            if LAUNCHER in proc.cmdline():
                found.append(proc)
        except psutil.Error:
            pass
    return found


@pytest.fixture
def workdirs(monkeypatch) -> list[Path]:
    """Every folder the pool makes for a kernel."""
    made: list[Path] = []
    real = kernel_pool.new_workdir

    def recording() -> Path:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(kernel_pool, "new_workdir", recording)
    return made


def settle(pool: KernelPool, count: int) -> None:
    """Until *count* kernels have started ahead (or failed to)."""
    deadline = time.monotonic() + 60
    while sum(f.done() for f in list(pool._queue)) < count and time.monotonic() < deadline:
        time.sleep(0.05)


def assert_all_gone(workdirs: list[Path]) -> None:
    assert workdirs and not [d for d in workdirs if d.exists()]
    assert not launchers()


def test_each_kernel_is_fresh_and_handed_out_once(workdirs):
    with KernelPool(LIMITS, prepare=mark, ahead=2, expected=3) as pool:
        taken = []
        for _ in range(3):
            kernel = pool.take(time.monotonic() + 60)
            assert marks(kernel) == "1 0"  # the prelude once, and nobody's code before ours
            taken.append(kernel)
        assert len({id(k) for k in taken}) == len({k.kernel_pid for k in taken}) == 3
        assert pool.started == pool.handed_out == 3  # never more than the batch needs
        for kernel in taken:
            pool.release(kernel)
    assert all(not k.alive() for k in taken)
    assert_all_gone(workdirs)


def test_the_deadline_is_the_submissions_not_the_pools():
    with KernelPool(LIMITS, prepare=mark, ahead=1, expected=1) as pool:
        settle(pool, 1)
        kernel = pool.take(time.monotonic() - 1)  # this submission's time is already up
        try:
            assert kernel.execute("1").status == CellStatus.TOTAL_TIMEOUT
        finally:
            pool.release(kernel)


def test_a_pre_started_kernel_that_died_is_replaced(workdirs):
    with KernelPool(LIMITS, prepare=mark, ahead=1, expected=3) as pool:
        settle(pool, 1)
        dead = pool._queue[0].result()
        os.kill(dead.kernel_pid, signal.SIGKILL)
        while dead.alive():
            time.sleep(0.01)
        kernel = pool.take(time.monotonic() + 60)
        assert kernel is not dead and kernel.alive()
        assert marks(kernel) == "1 0"
        pool.release(kernel)
        assert pool.handed_out == 1
    assert not dead.workdir.exists()
    assert_all_gone(workdirs)


def test_close_stops_the_kernels_nobody_took(workdirs):
    pool = KernelPool(LIMITS, prepare=mark, ahead=2, expected=10)
    settle(pool, 2)
    assert len(launchers(recursive=False)) == 2
    pool.close()
    pool.close()  # twice is harmless
    assert_all_gone(workdirs)
    with pytest.raises(KernelDied):
        pool.take(time.monotonic() + 60)


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_batch_leaves_no_sandbox_behind(workdirs, interruption):
    with pytest.raises(interruption):
        with KernelPool(LIMITS, prepare=mark, ahead=2, expected=10) as pool:
            kernel = pool.take(time.monotonic() + 60)
            try:  # as grade.run_tasks does: a taken kernel is released whatever happens
                raise interruption
            finally:
                pool.release(kernel)
    assert len(workdirs) == 3  # the one taken and the two started ahead of it
    assert_all_gone(workdirs)


def test_a_start_that_fails_is_the_callers_to_retry_and_leaves_nothing(workdirs, monkeypatch):
    def crashes(kernel: SandboxedKernel) -> None:
        kernel.execute("import os; os._exit(1)")

    with KernelPool(LIMITS, prepare=crashes, ahead=2, expected=2) as pool:
        for _ in range(3):  # two started ahead, then one on demand: each fails on its own
            with pytest.raises(KernelDied, match="prepared"):
                pool.take(time.monotonic() + 60)
        assert pool.started == 3
    assert_all_gone(workdirs)


def test_without_starting_ahead_each_kernel_starts_when_taken(workdirs):
    pool = KernelPool(LIMITS, prepare=mark)
    assert pool.started == 0
    kernel = pool.take(time.monotonic() + 60)
    assert pool.started == 1 and marks(kernel) == "1 0"
    pool.release(kernel)  # no background thread: stopped at once
    assert not kernel.alive() and not kernel.workdir.exists()
    pool.close()


def test_a_grading_kernel_starts_without_the_debugger(workdirs):
    """grader/sandbox/kernel_main.py starts ipykernel without importing debugpy (a fifth of a
    kernel's start), and does not leave its own folder on the path, where the sandbox's modules
    would become importable under their bare names."""
    with KernelPool(LIMITS, ahead=0) as pool:
        kernel = pool.take(time.monotonic() + 60)
        try:
            result = kernel.execute("import sys\n"
                                    "print(sys.modules.get('debugpy', 'absent'), 'pydevd' in sys.modules,\n"
                                    "      any(p.endswith('sandbox') for p in sys.path), type(get_ipython()).__name__)\n")
            assert result.status == CellStatus.OK, result
            assert result.stdout.split() == ["None", "False", "False", "ZMQInteractiveShell"]
        finally:
            pool.release(kernel)
    assert_all_gone(workdirs)


def test_abort_ends_the_cells_running_and_hands_out_no_more(workdirs):
    """Ctrl-C's path: a cell that loops ends when the pool is aborted, as if its kernel had
    died, instead of at its time limit (20 s here); no kernel is handed out after it."""
    pool = KernelPool(LIMITS, ahead=1, expected=2)
    try:
        kernel = pool.take(time.monotonic() + 60)
        ran: dict = {}
        looping = threading.Thread(target=lambda: ran.update(result=kernel.execute("while True:\n    pass\n")))
        looping.start()
        time.sleep(1)
        pool.abort()
        looping.join(timeout=15)
        assert not looping.is_alive() and ran["result"].status == CellStatus.DIED
        with pytest.raises(KernelDied, match="shutting down"):
            pool.take(time.monotonic() + 60)
        pool.release(kernel)
    finally:
        pool.close()
    assert_all_gone(workdirs)


def test_exit_and_quit_end_nothing_in_a_grading_kernel(workdirs):
    """ipykernel ends the kernel 0.1 s after exit(), whatever keepkernel_on_exit said before: a
    task running then would score zero or not depending on the machine's speed. The grader's
    first cell makes both end nothing."""
    from grader.runner import prepare_kernel

    with KernelPool(LIMITS, prepare=prepare_kernel) as pool:
        kernel = pool.take(time.monotonic() + 60)
        try:
            for call in ("exit()", "quit()", "exit(keep_kernel=False)"):
                assert kernel.execute(call).status == CellStatus.OK
                time.sleep(0.3)  # past ipykernel's 0.1 s
                assert kernel.execute("print('alive')").stdout == "alive\n", call
        finally:
            pool.release(kernel)
    assert_all_gone(workdirs)


@pytest.mark.parametrize("held_mb, expected", [(192, CellStatus.TIMEOUT), (448, CellStatus.MEMORY)])
def test_a_cell_that_runs_out_of_time_at_its_memory_limit_is_out_of_memory(workdirs, held_mb, expected):
    """Near its memory limit a sandbox may reclaim for longer than the cell's time limit before
    its OOM killer acts. A cell interrupted then still holds its memory (here in memfd files,
    which nothing reclaims), and the next cell or task call would die of it: the cell is out of
    memory (skipped on a fresh kernel), not merely slow. One that holds far less is only slow."""
    limits = Limits(cell_seconds=2, total_seconds=60, memory_mb=512)
    with KernelPool(limits, prepare=mark) as pool:
        kernel = pool.take(time.monotonic() + 60)
        try:
            if kernel.group is None:
                pytest.skip("no cgroup on this machine")
            result = kernel.execute("import os, time\nchunk = b'x' * 2**23\n"
                                    f"held = [os.memfd_create('x') for _ in range({held_mb} // 32)]\n"
                                    "for fd in held:\n    for _ in range(4):\n        os.write(fd, chunk)\n"
                                    "time.sleep(30)\n")
            assert result.status == expected, result
            assert kernel.group.oom_kills() == 0  # stopped by the grader, not by the OOM killer
            assert kernel.alive() == (expected == CellStatus.TIMEOUT)
        finally:
            pool.release(kernel)
    assert_all_gone(workdirs)
