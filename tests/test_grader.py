"""The grader end to end: the command line on a small class, and `check` in a notebook.

One batch (solution, blank exercise, partial and wrong answers) is graded once per session by the
real command line; the tests read what it wrote.
"""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course.exercise import CODE_BLOCK, STUB
from grader.spec import exercises
from tests.helpers import REPO, notebook_namespace

SLUG = "01_parameters_vs_hyperparameters"
SOLUTION = REPO / "solutions" / f"{SLUG}.ipynb"
EXERCISE = REPO / "exercises" / f"{SLUG}.ipynb"
SEED = 7
# Right only when the first layer size is even: its score depends on which hidden inputs are drawn.
RIGHT_ON_EVEN = ("{indent}total = sum(a * b + b for a, b in zip(layer_sizes, layer_sizes[1:]))\n"
                 "{indent}return total if layer_sizes[0] % 2 == 0 else total + 1\n")
OFF_BY_BIAS = "{indent}return sum(a * b for a, b in zip(layer_sizes[:-1], layer_sizes[1:]))\n"


def grader(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "grader", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


def rewrite_function(notebook: nbformat.NotebookNode, name: str, body: str | None) -> nbformat.NotebookNode:
    """The notebook with the solution block of `def name` replaced (None: left as the stub)."""
    for cell in notebook.cells:
        if cell.cell_type == "code" and f"def {name}(" in cell.source:
            replacement = STUB if body is None else body
            cell.source = CODE_BLOCK.sub(lambda m: replacement.format(indent=m.group(1)) + m.group(2), cell.source)
    return notebook


def write(folder: Path, name: str, notebook: nbformat.NotebookNode) -> Path:
    path = folder / f"{name}.ipynb"
    nbformat.write(notebook, path)
    return path


def right_on_even_inputs() -> nbformat.NotebookNode:
    return rewrite_function(nbformat.read(SOLUTION, as_version=4), "count_dense_params", RIGHT_ON_EVEN)


@pytest.fixture(scope="session")
def graded(tmp_path_factory):
    """Grade a small class once: returns (output folder, completed process)."""
    class_dir = tmp_path_factory.mktemp("class")
    solution = nbformat.read(SOLUTION, as_version=4)
    write(class_dir, "alice_solution", solution)
    write(class_dir, "bob_blank", nbformat.read(EXERCISE, as_version=4))
    first_only = nbformat.read(SOLUTION, as_version=4)
    for later in ("learning_rate_from_run", "winner_optimism"):
        first_only = rewrite_function(first_only, later, None)
    write(class_dir, "carol_first_task_only", first_only)
    write(class_dir, "dave_forgets_biases",
          rewrite_function(nbformat.read(SOLUTION, as_version=4), "count_dense_params", OFF_BY_BIAS))
    write(class_dir, "erin_right_on_even_inputs", right_on_even_inputs())
    out = tmp_path_factory.mktemp("out")
    process = grader("grade", SLUG, str(class_dir), "--out", str(out), "--seed", str(SEED), "--jobs", "2")
    return out, process


def results(out: Path, name: str) -> dict:
    return json.loads((out / name / "results.json").read_text())


def scores(out: Path, name: str) -> dict[str, float]:
    return {t["name"]: t["score"] for t in results(out, name)["tests"]}


def test_batch_exits_cleanly(graded):
    out, process = graded
    assert process.returncode == 0, process.stderr
    assert "Traceback" not in process.stderr


def test_solution_scores_full_marks(graded):
    out, _ = graded
    data = results(out, "alice_solution")
    assert data["score"] == exercises()[SLUG].points == 10
    assert all(t["status"] == "passed" for t in data["tests"])
    assert data["extra_data"]["seed"] == SEED


def test_blank_exercise_scores_zero(graded):
    out, _ = graded
    data = results(out, "bob_blank")
    assert data["score"] == 0
    assert "not written yet" in (out / "bob_blank" / "feedback.md").read_text()


def test_one_task_right_gets_exactly_its_points(graded):
    out, _ = graded
    assert scores(out, "carol_first_task_only") == {
        "count_dense_params": 2, "learning_rate_from_run": 0, "winner_optimism": 0}


def test_wrong_answer_gets_no_credit_and_a_hint(graded):
    out, _ = graded
    # Without biases only the one-size cases (no layer at all) come out right: one public, one hidden.
    assert scores(out, "dave_forgets_biases") == {
        "count_dense_params": round(2 * 2 / 12, 4), "learning_rate_from_run": 4, "winner_optimism": 4}
    feedback = (out / "dave_forgets_biases" / "feedback.md").read_text()
    assert "wrong value (too small)" in feedback and "Hint:" in feedback


def test_check_says_what_the_feedback_says(graded, capsys):
    """The real kernel's reply, judged by the grader, reads like check() in the notebook: one
    verdict (tests/test_verdict.py proves it for every exercise, without kernels)."""
    from grader import check

    out, _ = graded
    namespace: dict = {}
    exec("def count_dense_params(layer_sizes):\n" + OFF_BY_BIAS.format(indent="    "), namespace)
    check("count_dense_params", namespace["count_dense_params"])
    printed = capsys.readouterr().out.splitlines()
    said = [line.strip() for line in printed[1:] if line.startswith("  ") and not line.startswith("  Hint:")]
    [test] = [t for t in results(out, "dave_forgets_biases")["tests"] if t["name"] == "count_dense_params"]
    written = [line.removeprefix("public case ") for line in test["output"].splitlines()
               if line.startswith("public case ")]
    assert printed[0].startswith("✗ count_dense_params: 1 of 4 public cases pass.")
    assert said == written == [line for line in said if "wrong value (too small)" in line] and len(said) == 3


def test_results_follow_gradescope_schema(graded):
    out, _ = graded
    for folder in out.iterdir():
        # the written answers, for review; the reference run's kept values (grader.expected_cache)
        if not folder.is_dir() or folder.name in ("written", ".grader-cache"):
            continue
        data = results(out, folder.name)
        assert set(data) >= {"score", "tests", "output", "execution_time"}
        for test in data["tests"]:
            assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
            assert test["status"] in ("passed", "failed") and test["visibility"] == "visible"
            assert 0 <= test["score"] <= test["max_score"]


def test_gradebook_has_a_row_per_submission_and_a_column_per_task(graded):
    out, _ = graded
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert [r["submission"] for r in rows] == [
        "alice_solution", "bob_blank", "carol_first_task_only", "dave_forgets_biases", "erin_right_on_even_inputs"]
    assert {r["submission"]: float(r["total"]) for r in rows}["alice_solution"] == 10
    assert all(set(r) >= {"count_dense_params", "learning_rate_from_run", "winner_optimism", "total", "max"} for r in rows)


def test_feedback_never_shows_hidden_inputs(graded):
    out, _ = graded
    feedback = (out / "dave_forgets_biases" / "feedback.md").read_text()
    hidden = exercises()[SLUG].task("count_dense_params").hidden_cases(SEED)
    for (sizes,) in hidden:
        if len(sizes) > 1:
            assert str(sizes) not in feedback


def test_same_seed_same_grades(graded, tmp_path):
    """The seed alone decides the hidden inputs. A submission that is right on some inputs only
    shows it: graded again with the same seed it gets the same report, with another seed that
    draws a different number of the inputs it gets right, another score. (The solution's report
    is the same whatever is drawn, so it cannot show this.)"""
    out, _ = graded
    task = exercises()[SLUG].task("count_dense_params")

    def even_inputs(seed: int) -> int:
        return sum(sizes[0] % 2 == 0 for (sizes,) in task.hidden_cases(seed))

    other = next(seed for seed in range(SEED + 1, SEED + 100) if even_inputs(seed) != even_inputs(SEED))
    name = "erin_right_on_even_inputs"
    path = write(tmp_path, name, right_on_even_inputs())
    reports = {}
    for label, seed in (("again", SEED), ("other", other)):
        process = grader("grade", SLUG, str(path), "--out", str(tmp_path / label), "--seed", str(seed))
        assert process.returncode == 0, process.stderr
        reports[label] = results(tmp_path / label, name)
    first = results(out, name)

    def report(data: dict) -> list[tuple]:
        return [(t["name"], t["score"], t["output"]) for t in data["tests"]]

    assert report(reports["again"]) == report(first)
    n_cases = len(task.public) + len(task.hidden_cases(SEED))
    assert scores(out, name)["count_dense_params"] == round(2 * (1 + even_inputs(SEED)) / n_cases, 4)
    assert reports["other"]["tests"][0]["score"] == round(2 * (1 + even_inputs(other)) / n_cases, 4)
    assert reports["other"]["tests"][0]["score"] != first["tests"][0]["score"]


@pytest.mark.parametrize("slug", sorted(exercises()))
def test_every_solution_full_marks_every_blank_exercise_zero(slug, tmp_path):
    process = grader("grade", slug, str(REPO / "solutions" / f"{slug}.ipynb"),
                     str(REPO / "exercises" / f"{slug}.ipynb"), "--out", str(tmp_path), "--seed", "11")
    assert process.returncode == 0, process.stderr
    rows = {r["file"]: r for r in csv.DictReader((tmp_path / "gradebook.csv").open())}
    solution = rows[str(REPO / "solutions" / f"{slug}.ipynb")]
    blank = rows[str(REPO / "exercises" / f"{slug}.ipynb")]
    assert float(solution["total"]) == exercises()[slug].points, solution
    assert float(blank["total"]) == 0, blank


def test_usage_errors_exit_2(tmp_path):
    unknown = grader("grade", "99_no_such_exercise", str(SOLUTION), "--out", str(tmp_path))
    assert unknown.returncode == 2 and "unknown exercise" in unknown.stderr
    blocked = tmp_path / "file"
    blocked.write_text("")
    unwritable = grader("grade", SLUG, str(SOLUTION), "--out", str(blocked / "out"))
    assert unwritable.returncode == 2 and "cannot write" in unwritable.stderr


def test_list_shows_exercises_tasks_and_points():
    listing = grader("list")
    assert listing.returncode == 0
    assert SLUG in listing.stdout and "count_dense_params" in listing.stdout and "4 points" in listing.stdout


def test_exercise_headings_state_the_spec_points():
    for slug, exercise in exercises().items():
        text = (REPO / "exercises" / f"{slug}.md").read_text()
        for task in exercise.tasks:
            assert f"`{task.name}(" in text, f"exercise {slug} does not state the task {task.name}"
        # every heading reads "## Task 2 (core, 4 points): ..." and states the task's level
        levelled = re.findall(r"^## Task \d+ \(([a-z-]+), (\d+(?:\.\d+)?) points?\): .*\n(?:(?!## ).*\n)*?def (\w+)\(",
                              text, re.M)
        assert len(levelled) == len(exercise.tasks), f"exercise {slug}: a task heading lacks its level or points"
        stated = sum(float(points) for _, points, _ in levelled)
        assert stated == exercise.points, f"exercise {slug}: headings add up to {stated}, the spec to {exercise.points}"
        for level, _, name in levelled:
            assert exercise.task(name).level == level, f"exercise {slug}: {name} is {level} in its heading"


# ---- check(), the learner's side -------------------------------------------------------------

@pytest.mark.parametrize("slug", sorted(exercises()))
def test_check_passes_the_solution(slug, capsys):
    from grader import check

    solved = notebook_namespace(REPO / "solutions" / f"{slug}.ipynb")
    solved["check"] = check
    for task in exercises()[slug].tasks:
        exec(f"check({task.name!r}, {task.name})", solved)  # from the notebook, as a learner would
        out = capsys.readouterr().out
        assert out.startswith(f"✓ {task.name}: {len(task.public)} of {len(task.public)} public cases pass.")
        assert "hidden" in out  # says that hidden cases can still fail


def test_check_explains_a_failure(capsys):
    from grader import check

    check("count_dense_params", lambda sizes: 2400)
    out = capsys.readouterr().out
    assert out.startswith("✗ count_dense_params: 0 of 4 public cases pass.")
    assert "count_dense_params([64, 32, 10]) returned 2400; expected 2410" in out and "Hint:" in out


def test_check_recognises_the_stub_and_bad_calls(capsys):
    from grader import check

    blank = notebook_namespace(EXERCISE)
    check("winner_optimism", blank["winner_optimism"])
    assert "not written yet" in capsys.readouterr().out
    check("no_such_task", print)
    assert "there is no task called 'no_such_task'" in capsys.readouterr().out
    check("winner_optimism", 3)
    assert "pass the function itself" in capsys.readouterr().out


# ---- Gradescope -------------------------------------------------------------------------------------

def test_gradescope_mode_writes_results_where_gradescope_reads(tmp_path):
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "my_work.ipynb").write_bytes(SOLUTION.read_bytes())
    target = tmp_path / "results" / "results.json"
    process = grader("gradescope", SLUG, "--submission-dir", str(submission), "--results", str(target))
    assert process.returncode == 0, process.stderr
    data = json.loads(target.read_text())
    assert data["score"] == 10 and len(data["tests"]) == len(exercises()[SLUG].tasks)


def test_gradescope_mode_without_a_notebook_still_writes_results(tmp_path):
    target = tmp_path / "results.json"
    process = grader("gradescope", SLUG, "--submission-dir", str(tmp_path), "--results", str(target))
    assert process.returncode == 0
    data = json.loads(target.read_text())
    assert data["score"] == 0 and "No .ipynb file was submitted" in data["output"]


def test_bundle_holds_what_gradescope_runs(tmp_path):
    import zipfile

    target = tmp_path / "autograder.zip"
    assert grader("bundle", SLUG, "--out", str(target)).returncode == 0
    with zipfile.ZipFile(target) as archive:
        names = set(archive.namelist())
        run = archive.read("run_autograder").decode()
        mode = archive.getinfo("run_autograder").external_attr >> 16
    assert {"setup.sh", "run_autograder", "requirements.txt", "pyproject.toml", "grader/__main__.py",
            "grader/sandbox/launcher.py", "course/data.py", f"solutions/{SLUG}.ipynb"} <= names
    assert [n for n in names if n.startswith("solutions/")] == [f"solutions/{SLUG}.ipynb"]
    assert f"-m grader gradescope {SLUG}" in run and mode & 0o111


def test_a_kernel_that_fails_to_start_is_started_again(monkeypatch):
    """A start failure happens before any submitted code runs (a port taken by another grading
    run between choosing and binding it, say), so it must cost a retry, not the submission's
    points; only repeated failures are reported."""
    from grader import grade, kernel, reference

    real_start = kernel.SandboxedKernel.start
    starts: list[int] = []

    def fails_every_other_time(self):
        starts.append(1)
        if len(starts) % 2:
            raise kernel.KernelDied("the kernel exited while starting")
        return real_start(self)

    monkeypatch.setattr(kernel.SandboxedKernel, "start", fails_every_other_time)
    [result] = grade.grade_batch(exercises()[SLUG], [SOLUTION], seed=SEED)
    assert result.score == exercises()[SLUG].points, result.notes
    assert not any("could not start" in note for note in result.notes)
    assert len(starts) >= 4  # the solution's reference run and the submission, each retried

    monkeypatch.setattr(kernel.SandboxedKernel, "start",
                        lambda self: (_ for _ in ()).throw(kernel.KernelDied("the kernel exited while starting")))
    with pytest.raises(reference.GraderError, match="could not start: the kernel exited while starting"):
        grade.grade_batch(exercises()[SLUG], [SOLUTION], seed=SEED)  # no reference values at all


def test_submissions_run_while_the_reference_run_goes_on(monkeypatch):
    """No worker waits for the solution's run: the reference run here ends only once three
    submissions have run (it would wait forever if they waited for it), and all are judged."""
    import threading

    from grader import grade

    exercise = exercises()[SLUG]
    three_ran = threading.Event()
    ran: list[str] = []

    def slow_reference(exercise, case_sets, *rest):
        assert three_ran.wait(timeout=120), "the submissions waited for the reference run"
        return {cs.task.name: [None] * len(cs.all_args) for cs in case_sets}

    def run(path, name, exercise, case_sets, *rest):
        ran.append(name)
        if len(ran) == 3:
            three_ran.set()
        return grade.RanSubmission(path, name, case_sets, {}, [], None, grade.Timings(), 0.0)

    monkeypatch.setattr(grade, "expected_values", slow_reference)
    monkeypatch.setattr(grade, "run_one", run)
    results = grade.grade_batch(exercise, [SOLUTION] * 3, seed=SEED)
    assert [len(r.tasks) for r in results] == [len(exercise.tasks)] * 3


def test_a_failed_reference_run_stops_the_batch(monkeypatch):
    """A broken solution fails the batch, and the submissions not yet begun are not run."""
    import time

    from grader import grade, reference

    ran: list[str] = []

    def broken(*args):
        raise reference.GraderError("the solution notebook is broken")

    def run(path, name, exercise, case_sets, *rest):
        ran.append(name)
        time.sleep(0.2)
        return grade.RanSubmission(path, name, case_sets, {}, [], None, grade.Timings(), 0.0)

    monkeypatch.setattr(grade, "expected_values", broken)
    monkeypatch.setattr(grade, "run_one", run)
    with pytest.raises(reference.GraderError, match="broken"):
        grade.grade_batch(exercises()[SLUG], [SOLUTION] * 10, seed=SEED)
    assert len(ran) <= 2


def test_ctrl_c_stops_at_once_keeps_the_graded_reports_and_resume_goes_on(tmp_path):
    """Ctrl-C while a submission loops forever: the grader ends that sandbox instead of waiting
    for the cell's time limit, says how far it got (no traceback), leaves no sandbox behind, and
    keeps the report of each submission judged before; --resume grades only the rest."""
    import shutil
    import signal
    import tempfile
    import time

    import psutil

    klass = tmp_path / "class"
    klass.mkdir()
    shutil.copy(SOLUTION, klass / "a_solution.ipynb")
    forever = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("while True:\n    pass")])
    for name in ("b_loop", "c_loop"):
        nbformat.write(forever, klass / f"{name}.ipynb")
    out = tmp_path / "out"
    sandboxes = Path(tempfile.mkdtemp(prefix="ctrlc-", dir="/tmp"))  # short: socket paths are
    command = [sys.executable, "-m", "grader", "grade", SLUG, str(klass), "--out", str(out), "--seed", str(SEED)]
    grading = subprocess.Popen([*command, "--timeout", "100"], cwd=REPO, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, "TMPDIR": str(sandboxes)},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        began = time.monotonic()
        while not (out / "a_solution" / "results.json").exists() and time.monotonic() - began < 120:
            assert grading.poll() is None, grading.communicate()
            time.sleep(0.1)
        time.sleep(1)  # b_loop is looping now
        interrupted = time.monotonic()
        grading.send_signal(signal.SIGINT)
        _, stderr = grading.communicate(timeout=200)
        stopped_after = time.monotonic() - interrupted
    finally:
        grading.kill()
    assert grading.returncode == 130, stderr
    assert stopped_after < 100  # not the looping cell's time limit
    assert "interrupted: 1 of 3 submissions graded" in stderr and "Traceback" not in stderr, stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["a_solution"]
    assert not list(sandboxes.iterdir())  # every sandbox's folder is gone
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(sandboxes) in " ".join(p.info["cmdline"] or [])]

    resumed = subprocess.run([*command, "--resume", "--timeout", "1"], cwd=REPO, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert "1 submissions already graded with seed" in resumed.stdout
    rows = list(csv.DictReader((out / "gradebook.csv").open()))
    assert [(r["submission"], r["total"]) for r in rows] == [("a_solution", "10"), ("b_loop", "0"), ("c_loop", "0")]
    shutil.rmtree(sandboxes, ignore_errors=True)


def test_the_attack_suite_size_is_the_one_the_instructors_page_states():
    from tests.attacks import ATTACKS

    page = " ".join((REPO / "book" / "99_instructors.md").read_text().split())
    assert f"grades one batch of {len(ATTACKS)} such attacks" in page


@pytest.mark.parametrize("slug", sorted(exercises()))
def test_every_hint_points_to_a_section_of_its_chapter(slug):
    """Hints teach by pointing to the idea: each names a section that its chapter really has, on
    any of its pages (chapter 6 has a second page, book/06b_optimizer_race.md)."""
    number = slug.split("_")[0]
    pages = [REPO / "book" / f"{slug}.md", *sorted((REPO / "book").glob(f"{number}[a-z]_*.md"))]
    headings = {h.strip() for page in pages for h in re.findall(r"^#{2,3} (.+)$", page.read_text(), re.M)}
    for task in exercises()[slug].tasks:
        named = set(re.findall(r"'([^']+)'", task.hint))
        assert named & headings, f"{slug}: the hint of {task.name} names no section of its chapter"
