"""The adversarial suite: every attack of tests/attacks.py, graded in one batch.

Each must end with the affected tasks at 0 (or the file reported as malformed), a clear reason in
its feedback.md, no traceback from the grader, and the rest of the batch graded normally.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import psutil
import pytest

from grader import landlock
from tests.attacks import ATTACKS, FULL, LEFTOVER, SLUG, Context, write_all
from tests.helpers import REPO

CONFINED = landlock.abi_version() >= 1


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    out = tmp_path_factory.mktemp("attack-results")
    folder = tmp_path_factory.mktemp("attack-submissions")
    paths = write_all(folder, Context(out=out))
    # The batch's own temporary folder marks its sandboxes, so that the survivor check below does
    # not mistake a grading run elsewhere on the machine (another test worker) for a leak.
    scratch = tmp_path_factory.mktemp("attack-tmp")
    process = subprocess.run(
        [sys.executable, "-m", "grader", "grade", SLUG, str(folder), "--out", str(out), "--seed", "5",
         "--jobs", "2", "--timeout", "6", "--memory", "1024"],
        capture_output=True, text=True, cwd=REPO, timeout=900, env=os.environ | {"TMPDIR": str(scratch)})
    return out, process, paths, scratch


def results(out, name):
    return json.loads((out / name / "results.json").read_text())


def test_the_batch_completes_without_a_grader_traceback(batch):
    out, process, paths, _ = batch
    assert process.returncode == 0, process.stderr[-3000:]
    assert "Traceback" not in process.stderr, process.stderr[-3000:]
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert len(rows) == len(paths)


def test_the_honest_submission_in_the_same_batch_gets_full_marks(batch):
    out, *_ = batch
    assert results(out, "honest_solution")["score"] == 10


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_attack(batch, attack):
    out, *_ = batch
    data = results(out, attack.name)
    feedback = (out / attack.name / "feedback.md").read_text()
    if attack.scores is None:
        assert data["extra_data"]["malformed"], f"{attack.name} was not reported as malformed"
        assert data["score"] == 0 and all(t["score"] == 0 for t in data["tests"])
    else:
        assert {t["name"]: t["score"] for t in data["tests"]} == attack.scores, feedback
    says = attack.says
    if says == "PermissionError" and not CONFINED:
        pytest.fail("this machine has no Landlock, so file confinement cannot be checked")
    assert says in feedback, f"{attack.name}: feedback lacks {says!r}:\n{feedback}"
    assert "Traceback" not in feedback


def test_nothing_was_written_outside_the_sandbox(batch):
    out, *_ = batch
    assert not (out / "planted.txt").exists()
    assert results(out, "escape_write_results")["score"] == FULL["fit_line_gd"]
    rows = {r["submission"]: r for r in csv.DictReader((out / "gradebook.csv").open())}
    assert rows["escape_write_gradebook"]["total"] == "6"


def test_no_process_outlives_grading(batch):
    *_, scratch = batch
    survivors = []
    for proc in psutil.process_iter(["cmdline", "name"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if LEFTOVER in cmdline or "sleep 4242" in cmdline or ("grader.sandbox" in cmdline and str(scratch) in cmdline):
            survivors.append(f"{proc.pid}: {cmdline}")
    assert not survivors, survivors


def test_feedback_hides_hidden_inputs_even_under_attack(batch):
    out, *_ = batch
    from grader.spec import exercises

    hidden = exercises()[SLUG].task("count_dense_params").hidden_cases(5)
    for attack in ATTACKS:
        feedback = (out / attack.name / "feedback.md").read_text()
        for (sizes,) in hidden:
            if len(sizes) > 1:
                assert str(sizes) not in feedback, attack.name


def test_the_instructors_page_counts_the_attacks():
    page = (REPO / "book" / "99_instructors.md").read_text()
    assert f"one batch of {len(ATTACKS)} such attacks" in page
