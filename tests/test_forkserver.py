"""Kernels forked into their sandboxes (grader.forkserver, grader/sandbox/zygote.py).

A forked kernel must be exactly as confined as one the launcher starts, and as fresh: these start
real sandboxes and look at the kernel from inside and from the host. The attack suite
(test_grader_attacks) runs every attack against forked kernels, as root and as a plain user.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psutil
import pytest

from grader import forkserver
from grader.kernel import CellStatus, KernelDied, Limits, SandboxedKernel, fork_server, new_workdir
from grader.kernel_pool import _dispose as finish  # stop, and remove the kernel's folder
from grader.sandbox import isolation
from tests.helpers import REPO

LIMITS = Limits(cell_seconds=20, total_seconds=60)
INSIDE = """import json, os, random, socket, sys
import numpy as np
status = dict(line.split(':\\t', 1) for line in open('/proc/self/status').read().splitlines() if ':\\t' in line)
print(json.dumps({'caps': [status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')],
                  'no_new_privs': status['NoNewPrivs'].strip(), 'seccomp': status['Seccomp'].strip(),
                  'uid': os.getuid(), 'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),
                  'host': socket.gethostname(), 'cwd': os.getcwd(), 'env': dict(os.environ),
                  'random': [random.random(), float(np.random.rand())],
                  'open': sorted(int(fd) for fd in os.listdir('/proc/self/fd')),
                  'main': sorted(k for k in sys.modules['__main__'].__dict__ if not k.startswith('_'))}))
"""


def namespaces_available() -> bool:
    return isolation.probe().bwrap is not None


pytestmark = pytest.mark.skipif(not namespaces_available(), reason="kernels are forked only into bubblewrap's namespaces")


def started(limits: Limits = LIMITS) -> SandboxedKernel:
    kernel = SandboxedKernel(limits, new_workdir(), time.monotonic() + 60)
    try:
        kernel.start()
    except BaseException:
        finish(kernel)
        raise
    return kernel


def look_inside(kernel: SandboxedKernel) -> dict:
    result = kernel.execute(INSIDE)
    assert result.status == CellStatus.OK, result
    return json.loads(result.stdout)


def server_for(limits: Limits = LIMITS) -> forkserver.ForkServer:
    server = fork_server(limits, isolation.probe())
    assert server is not None, forkserver.failures()
    return server


def forked_from(server: forkserver.ForkServer, kernel: SandboxedKernel) -> bool:
    return kernel.kernel_pid in {p.pid for p in psutil.Process(server.process.pid).children()}


def test_a_forked_kernel_is_as_confined_as_a_started_one():
    forked, launched = started(), started(Limits(cell_seconds=20, total_seconds=60, fork_server=False))
    try:
        assert forked_from(server_for(), forked) and not forked_from(server_for(), launched)
        seen, expected = look_inside(forked), look_inside(launched)
    finally:
        finish(forked)
        finish(launched)
    # none in any set (the launcher's kernel may inherit bubblewrap's bounding set; this one has none)
    assert seen["caps"] == ["0000000000000000"] * 5
    assert seen["no_new_privs"] == "1" and seen["seccomp"] == "2"  # seccomp filter mode
    for key in ("host", "cwd", "env", "main"):
        assert seen[key] == expected[key], key
    assert seen["uid"] != 0 and (seen["uid"] == os.getuid()) == (expected["uid"] == os.getuid())
    # its own PID namespace: bubblewrap's init, the holding launcher, and the kernel
    assert seen["pids"] == expected["pids"] == [1, 2, 3]
    assert seen["open"] == expected["open"]  # nothing of the server's pipes or files


def test_a_forked_kernel_joins_its_sandboxs_cgroup():
    kernel = started()
    try:
        if kernel.group is None:
            pytest.skip("no cgroups on this machine")
        procs = {int(pid) for path in kernel.group.procs_files for pid in path.read_text().split()}
        assert kernel.kernel_pid in procs
    finally:
        finish(kernel)


def test_each_forked_kernel_draws_its_own_random_numbers():
    first, second = started(), started()
    try:
        assert look_inside(first)["random"] != look_inside(second)["random"]
    finally:
        finish(first)
        finish(second)


def test_the_server_never_loads_a_package_the_exercise_hides():
    limits = Limits(cell_seconds=20, total_seconds=60, hidden_modules=("scipy",))
    assert "scipy.special" not in server_for(limits).preloaded
    assert "scipy.special" in server_for().preloaded
    kernel = started(limits)
    try:
        result = kernel.execute("import scipy.special")
        assert result.status == CellStatus.ERROR and "is not available" in result.error, result
    finally:
        finish(kernel)


def test_the_server_refuses_to_fork_into_its_own_namespaces():
    """A request that names a process outside any sandbox (the grader itself) is refused: the
    kernel would run with the grader's view of the machine."""
    server = server_for()
    with pytest.raises(forkserver.ForkFailed, match="shares the server's"):
        server.fork(os.getpid(), [], "/nonexistent.json")
    assert server.alive()  # and it serves the next request


def test_the_server_refuses_a_process_that_is_not_the_one_named():
    server = server_for()
    request = {"holder_pid": os.getpid(), "holder_start": forkserver.start_time(os.getpid()) + 1,
               "cgroup_procs": [], "config": "/nonexistent.json"}
    with server._lock:
        server.process.stdin.write((json.dumps(request) + "\n").encode())
        server.process.stdin.flush()
        reply = server._read(30)
    assert "holding process is gone" in reply["error"]


def test_a_server_that_died_is_replaced():
    killed = server_for().process
    killed.kill()
    killed.wait()
    kernel = started()
    try:
        assert forked_from(server_for(), kernel)
        assert kernel.execute("print(1)").stdout == "1\n"
    finally:
        finish(kernel)


def test_where_the_server_cannot_start_kernels_start_from_the_launcher(monkeypatch, tmp_path):
    monkeypatch.setattr(forkserver, "ZYGOTE", str(tmp_path / "missing.py"))
    monkeypatch.setattr(forkserver, "_servers", {})
    monkeypatch.setattr(forkserver, "_failed", {})
    kernel = started()
    try:
        assert list(forkserver._failed.values()) == ["the fork server could not start: the fork server stopped answering"]
        assert kernel.execute("print(2)").stdout == "2\n"
        assert look_inside(kernel)["pids"] == [1, 2, 3]  # bubblewrap's init, the launcher, its kernel
    finally:
        finish(kernel)


def test_a_stopped_forked_kernel_leaves_no_process():
    server = server_for()
    kernel = started()
    pid = kernel.kernel_pid
    finish(kernel)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        time.sleep(0.01)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    deadline = time.monotonic() + 5  # the server reaps it
    while time.monotonic() < deadline and psutil.pid_exists(pid):
        time.sleep(0.05)
    assert not psutil.pid_exists(pid)
    assert server.alive() and not psutil.Process(server.process.pid).children()


def test_after_a_fork_that_fails_in_a_working_sandbox_kernels_start_from_the_launcher(monkeypatch):
    """A machine where joining the namespaces fails would fail every submission's fork: the
    first failure sends the rest to the launcher, and the runner retries that one kernel."""
    monkeypatch.setattr(forkserver, "_servers", {})
    monkeypatch.setattr(forkserver, "_failed", {})

    def refuses(self, *args):
        raise forkserver.ForkFailed("setns(mnt): Operation not permitted")

    monkeypatch.setattr(forkserver.ForkServer, "fork", refuses)
    with pytest.raises(KernelDied, match="Operation not permitted"):
        started()
    assert list(forkserver._failed.values()) == ["setns(mnt): Operation not permitted"]
    assert not forkserver._servers  # and its server is closed
    kernel = started()
    try:
        assert kernel.execute("print(3)").stdout == "3\n"
    finally:
        finish(kernel)


def test_check_sandbox_says_whether_kernels_are_forked():
    """The instructor learns from check-sandbox whether this machine takes the fast path, found
    by starting a kernel, and why not (here: without bubblewrap)."""
    def last_line(env: dict[str, str]) -> str:
        run = subprocess.run([sys.executable, "-m", "grader", "check-sandbox"], capture_output=True,
                             text=True, cwd=REPO, env=env, timeout=120)
        return run.stdout.strip().splitlines()[-1]

    assert last_line(dict(os.environ)).startswith("fast     kernels are forked")
    assert last_line(os.environ | {"GRADER_BWRAP": "/nonexistent"}) == (
        "slower   kernels start from nothing: the fork server needs bubblewrap's namespaces")
