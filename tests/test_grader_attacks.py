"""The adversarial suite: every attack of tests/attacks.py, graded in one batch with --jobs 2.

Each must end with the affected tasks at 0 (or the file reported as malformed), a clear reason in
its feedback.md, no traceback from the grader, and the rest of the batch graded normally. The
batch runs as the user running the tests; when that is root (CI), the isolation attacks are also
graded by an unprivileged grader, and a machine without user namespaces is simulated.

Attacks marked `confined` need every isolation layer (grader.sandbox.isolation). Where one is missing
they are skipped, unless REQUIRE_CONFINEMENT=1 (set by .ci/run), which makes that a failure.
"""

from __future__ import annotations

import csv
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from grader.sandbox import isolation
from tests.attacks import (ATTACKS, COUNT_WRONG, FULL, HONEST, LEFTOVER, LONG_NAME, SECRET_VARIABLE, SLUG, SOLUTION,
                           Context, Helpers, write_all)
from tests.helpers import REPO, require_confinement

AS_ROOT = os.geteuid() == 0
MEMORY_MB = 1024


@dataclass
class Batch:
    out: Path
    folder: Path
    scratch: Path
    process: subprocess.CompletedProcess
    paths: list[Path]
    ctx: Context
    helpers: Helpers
    peak_rss: int  # of the grader process itself
    before: dict[str, tuple]  # modes and times of the files the attacks try to change


def _state(ctx: Context) -> dict[str, tuple]:
    """Modes of the grader's folders (it writes into --out), mode and times of the canary, and
    the bytes of an earlier batch's report, which this batch's grader leaves alone."""
    canary = os.stat(ctx.canary)
    return {str(ctx.out): os.stat(ctx.out).st_mode, str(ctx.submissions): os.stat(ctx.submissions).st_mode,
            str(ctx.canary): (canary.st_mode, canary.st_mtime_ns),
            str(ctx.earlier_report): (ctx.earlier_report.read_bytes(), os.stat(ctx.earlier_report).st_mtime_ns)}


def run_batch(base: Path, grader_prefix: list[str] = (), owner: int | None = None,
              attacks=ATTACKS) -> Batch:
    """Write the attacks and grade them in one batch; *grader_prefix* runs the grader as another
    user, who then owns the folders."""
    out, folder, scratch = base / "results", base / "submissions", base / "tmp"
    for path in (out, folder, scratch):
        path.mkdir()
    canary = base / "instructors_file.txt"
    canary.write_text("the instructor's")
    earlier_report = out / "earlier_batch_student" / "results.json"  # graded before, into the same --out
    earlier_report.parent.mkdir()
    earlier_report.write_text(json.dumps({"score": 3, "tests": []}))
    helpers = Helpers(base)
    ctx = Context(out=out, submissions=folder, marker=str(scratch), canary=canary, earlier_report=earlier_report,
                  secret=secrets.token_hex(16), udp_port=helpers.udp_port, tcp_port=helpers.tcp_port,
                  unix_path=helpers.unix_path, abstract_name=helpers.abstract_name)
    paths = write_all(folder, ctx, attacks)
    if owner is not None:
        for path in [base, out, folder, scratch, canary, *out.rglob("*"), *folder.rglob("*")]:
            os.lchown(path, owner, owner)
    before = _state(ctx)
    command = [*grader_prefix, sys.executable, "-m", "grader", "grade", SLUG, str(folder), "--out", str(out),
               "--seed", "5", "--jobs", "2", "--timeout", "6", "--total-timeout", "60", "--memory", str(MEMORY_MB)]
    # The batch's own TMPDIR marks its sandboxes, so that the survivor check below does not
    # mistake a grading run elsewhere on the machine (another test worker) for a leak.
    env = os.environ | {"TMPDIR": str(scratch), SECRET_VARIABLE: ctx.secret}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)
    peak = [0]

    def watch() -> None:  # the grader's own memory, sampled while it runs
        grader = None
        while process.poll() is None:
            try:
                if grader is None:
                    candidates = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
                    grader = next((p for p in candidates if p.cmdline()[1:4] == ["-m", "grader", "grade"]), None)
                if grader is not None:
                    peak[0] = max(peak[0], grader.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    stdout, stderr = process.communicate(timeout=1200)
    watcher.join()
    helpers.close()
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return Batch(out, folder, scratch, done, paths, ctx, helpers, peak[0], before)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    return run_batch(tmp_path_factory.mktemp("attacks"))


def results(out, name):
    return json.loads((out / name / "results.json").read_text())


def test_the_batch_completes_without_a_grader_traceback(batch):
    assert batch.process.returncode == 0, batch.process.stderr[-3000:]
    assert "Traceback" not in batch.process.stderr, batch.process.stderr[-3000:]


def test_every_submission_has_its_report_and_a_gradebook_row(batch):
    rows = list(csv.DictReader((batch.out / "gradebook.csv").open()))
    # Every .ipynb entry is a submission: links, the FIFO and the odd names included.
    assert len(rows) == len([p for p in batch.folder.rglob("*.ipynb")]), [r["submission"] for r in rows]
    for row in rows:
        assert (batch.out / row["submission"] / "results.json").is_file(), row
        assert (batch.out / row["submission"] / "feedback.md").is_file(), row


@pytest.mark.parametrize("name", HONEST)
def test_honest_submissions_in_the_same_batch_get_full_marks(batch, name):
    assert results(batch.out, name)["score"] == 10, (batch.out / name / "feedback.md").read_text()


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack(batch, attack):
    if attack.confined:
        require_confinement()
    check_attack(batch.out, attack)


def check_attack(out: Path, attack) -> None:
    data = results(out, attack.folder)
    feedback = (out / attack.folder / "feedback.md").read_text()
    if attack.scores is None:
        assert data["extra_data"]["malformed"], f"{attack.name} was not reported as malformed"
        assert data["score"] == 0 and all(t["score"] == 0 for t in data["tests"])
    else:
        assert {t["name"]: t["score"] for t in data["tests"]} == attack.scores, feedback
    said = attack.says in feedback or (attack.or_says is not None and attack.or_says in feedback)
    assert said, f"{attack.name}: feedback lacks {attack.says!r}:\n{feedback[:3000]}"
    assert "Traceback" not in feedback


def test_nothing_was_written_outside_the_sandbox(batch):
    require_confinement()
    """Only what the grader does not write again after the attacks ran can show a write that got
    out: a planted file, an earlier batch's report, a folder where the gradebook goes."""
    out = batch.out
    assert not (out / "planted.txt").exists()
    assert json.loads(batch.ctx.earlier_report.read_text())["score"] == 3  # escape_write_results
    assert (out / "gradebook.csv").is_file()  # escape_write_gradebook
    rows = {r["submission"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert float(rows["escape_write_gradebook"]["total"]) == sum(COUNT_WRONG.values())
    assert float(rows["escape_write_results"]["total"]) == sum(COUNT_WRONG.values())


def test_no_file_outside_the_sandbox_changed_mode_or_time(batch):
    require_confinement()
    assert _state(batch.ctx) == batch.before


def test_no_helper_outside_the_sandbox_was_reached(batch):
    require_confinement()
    assert batch.helpers.asked == 0


def _cwd(proc: psutil.Process) -> str:
    try:
        return proc.cwd()
    except psutil.Error:
        return ""


def survivors(marker: str) -> list[str]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if LEFTOVER in cmdline or "sleep 4242" in cmdline or ("grader/sandbox/launcher.py" in cmdline and marker in cmdline):
            found.append(f"{proc.pid}: {cmdline[:200]}")
        elif "grader/sandbox/zygote.py" in cmdline and _cwd(proc).startswith(marker):  # a batch's fork server
            found.append(f"{proc.pid}: {cmdline[:200]}")
    return found


def test_no_process_outlives_grading(batch):
    assert not survivors(str(batch.scratch))


def test_the_graders_memory_stays_bounded_whatever_kernels_send(batch):
    """Floods of messages that claim no cell, and one message of thousands of frames, would
    make the grader buffer gigabytes; it holds far less than a sandbox may."""
    assert 0 < batch.peak_rss < MEMORY_MB * 2**20, batch.peak_rss / 2**20


def test_reports_stay_small_whatever_a_submission_names(batch):
    for name in ("feedback.md", "results.json"):
        assert (batch.out / "long_exception_name" / name).stat().st_size < LONG_NAME / 10


def test_the_instructors_page_counts_the_attacks():
    page = (REPO / "book" / "99_instructors.md").read_text()
    assert f"one batch of {len(ATTACKS)} such attacks" in page


# ---- Gradescope mode ------------------------------------------------------------------------------

def test_gradescope_mode_refuses_a_link_to_the_solution(tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    os.symlink(SOLUTION, submission / f"{SLUG}.ipynb")
    target = tmp_path / "results.json"
    process = subprocess.run([sys.executable, "-m", "grader", "gradescope", SLUG, "--submission-dir",
                              str(submission), "--results", str(target)],
                             capture_output=True, text=True, cwd=REPO, timeout=600)
    assert process.returncode == 0, process.stderr
    data = json.loads(target.read_text())
    assert data["score"] == 0 and "symbolic link to something outside its folder" in data["output"]


# ---- the other identities: not root, and no user namespaces -------------------------------------

NOBODY = 65534
ISOLATION = {"outside", "network", "identity", "outliving", "memory", "escaping"}


def _as_nobody(*flags: str) -> list[str]:
    return [sys.executable, "-m", "tests.unprivileged", *flags, str(NOBODY), "--"]


def _public_tmp() -> Path:
    """A folder an unprivileged user may enter (pytest's own are private to their owner)."""
    folder = Path(tempfile.mkdtemp(prefix="lr-attacks-"))
    folder.chmod(0o755)
    return folder


@pytest.fixture(scope="module")
def unprivileged_batch():
    if not AS_ROOT:
        pytest.skip("the suite already runs as an unprivileged user")
    attacks = [a for a in ATTACKS if a.category in ISOLATION]
    base = _public_tmp()
    try:
        yield run_batch(base, _as_nobody("--delegate-cgroup"), owner=NOBODY, attacks=attacks), attacks
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_an_unprivileged_grader_gives_the_same_verdicts(unprivileged_batch):
    """The grader run by a plain user (user namespaces, a delegated cgroup) holds as well."""
    require_confinement()
    batch, attacks = unprivileged_batch
    assert batch.process.returncode == 0, batch.process.stderr[-3000:]
    assert "warning" not in batch.process.stderr, batch.process.stderr[-3000:]
    for name in HONEST:
        assert results(batch.out, name)["score"] == 10
    for attack in attacks:
        check_attack(batch.out, attack)
    assert _state(batch.ctx) == batch.before
    assert batch.helpers.asked == 0
    assert not survivors(str(batch.scratch))


@pytest.fixture
def public_tmp():
    folder = _public_tmp()
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


def _grade_as_nobody(base: Path, flags: list[str], *options: str) -> subprocess.CompletedProcess:
    """Two copies of the solution, graded in one batch (--jobs 2) by an unprivileged grader in a
    folder of *base*: what is said once per batch must be said once, not once per submission."""
    base.mkdir()
    base.chmod(0o755)
    os.chown(base, NOBODY, NOBODY)
    for name in ("s.ipynb", "t.ipynb"):
        (base / name).write_bytes(SOLUTION.read_bytes())
        os.chown(base / name, NOBODY, NOBODY)
    process = subprocess.run([*_as_nobody(*flags), sys.executable, "-m", "grader", "grade", SLUG,
                              str(base / "s.ipynb"), str(base / "t.ipynb"), "--out", str(base / "out"),
                              "--jobs", "2", *options],
                             capture_output=True, text=True, cwd=REPO, timeout=600)
    return process


def test_without_user_namespaces_the_grader_says_what_is_missing_and_can_refuse(public_tmp):
    if not AS_ROOT:
        pytest.skip("simulating a machine without user namespaces needs root")
    require_confinement()  # the simulation takes away one layer of a fully confined machine
    base = public_tmp / "refused"
    refused = _grade_as_nobody(base, ["--no-userns", "--delegate-cgroup"], "--require-confinement")
    assert refused.returncode == 4, refused.stderr
    assert "refusing to grade" in refused.stderr and "namespace" in refused.stderr
    assert isolation.GUARANTEES["namespaces"] in refused.stderr
    assert isolation.GUARANTEES["cgroup"] not in refused.stderr  # delegated: not missing
    assert not (base / "out" / "gradebook.csv").exists()
    base = public_tmp / "warned"
    warned = _grade_as_nobody(base, ["--no-userns", "--delegate-cgroup"])
    assert warned.returncode == 0, warned.stderr
    assert warned.stderr.count("warning:") == 1 and isolation.GUARANTEES["namespaces"] in warned.stderr
    for name in ("s", "t"):
        data = json.loads((base / "out" / name / "results.json").read_text())
        assert data["score"] == 10 and not data["extra_data"]["confined"]
        assert "namespace" in data["extra_data"]["missing_guarantees"]


def test_without_bubblewrap_the_grader_says_so_and_can_refuse(tmp_path):
    (tmp_path / "s.ipynb").write_bytes(SOLUTION.read_bytes())
    process = subprocess.run([sys.executable, "-m", "grader", "grade", SLUG, str(tmp_path / "s.ipynb"),
                              "--out", str(tmp_path / "out"), "--require-confinement"],
                             capture_output=True, text=True, cwd=REPO, timeout=600,
                             env=os.environ | {"GRADER_BWRAP": str(tmp_path / "no-bwrap")})
    assert process.returncode == 4
    assert isolation.GUARANTEES["namespaces"] in process.stderr and "bubblewrap is not available" in process.stderr
    assert not (tmp_path / "out" / "gradebook.csv").exists()
