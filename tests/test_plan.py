"""Large classes: --shard splits a class, --resume grades only what is missing or changed."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from grader.plan import PlanError, digest, parse_shard, plan
from grader.spec import exercises
from tests.helpers import REPO

SLUG = "01_parameters_vs_hyperparameters"
EXERCISE = exercises()[SLUG]
SOLVED = (REPO / "solutions" / f"{SLUG}.ipynb").read_bytes()
BLANK = (REPO / "exercises" / f"{SLUG}.ipynb").read_bytes()


def a_class(folder: Path, count: int) -> list[Path]:
    folder.mkdir()
    paths = []
    for i in range(count):
        path = folder / f"student{i}.ipynb"
        path.write_bytes(SOLVED if i % 2 == 0 else BLANK)
        paths.append(path)
    return paths


def report(out: Path, name: str, seed: int, sha: str | None, slug: str = SLUG) -> None:
    (out / name).mkdir(parents=True)
    (out / name / "results.json").write_text(json.dumps(
        {"score": 0, "tests": [], "extra_data": {"exercise": slug, "seed": seed, "notebook_sha256": sha}}))


@pytest.mark.parametrize("text", ["0/3", "4/3", "2", "a/b", "1/0"])
def test_a_bad_shard_is_a_usage_error(text):
    with pytest.raises(PlanError, match="K/N"):
        parse_shard(text)


def test_shards_cover_the_class_once_with_names_chosen_over_all_of_it(tmp_path):
    paths = a_class(tmp_path / "c", 7)
    whole = plan(EXERCISE, paths, tmp_path / "out", seed=1)
    shards = [plan(EXERCISE, paths, tmp_path / "out", seed=1, shard=f"{k}/3") for k in (1, 2, 3)]
    assert sorted(i for s in shards for i in s.todo) == whole.todo == list(range(7))
    assert all(s.names == whole.names for s in shards)
    with pytest.raises(PlanError, match="needs --seed"):
        plan(EXERCISE, paths, tmp_path / "out", seed=None, shard="1/2")


def test_resume_keeps_only_reports_of_the_same_notebook_seed_and_exercise(tmp_path):
    paths = a_class(tmp_path / "c", 4)
    out = tmp_path / "out"
    report(out, "student0", 5, digest(paths[0]))  # the same: kept
    report(out, "student1", 6, digest(paths[1]))  # another seed: graded again
    report(out, "student2", 5, "0" * 64)  # the notebook changed since: graded again
    report(out, "student3", 5, digest(paths[3]), slug="02_learning_rate")  # another exercise
    resumed = plan(EXERCISE, paths, out, seed=5, resume=True)
    assert list(resumed.kept) == ["student0"] and resumed.todo == [1, 2, 3]
    with pytest.raises(PlanError, match="different seeds"):
        plan(EXERCISE, paths, out, seed=None, resume=True)


def test_shards_then_resume_from_the_command_line(tmp_path):
    a_class(tmp_path / "c", 3)
    out = tmp_path / "out"

    def grade(*extra: str) -> subprocess.CompletedProcess:
        process = subprocess.run([sys.executable, "-m", "grader", "grade", SLUG, str(tmp_path / "c"),
                                  "--out", str(out), *extra], capture_output=True, text=True, cwd=REPO,
                                 timeout=900)
        assert process.returncode == 0, process.stderr
        return process

    first = grade("--shard", "1/2", "--seed", "9")
    assert "shard 1 of 2 graded" in first.stdout and not (out / "gradebook.csv").exists()
    grade("--shard", "2/2", "--seed", "9")
    merged = grade("--resume")  # the seed comes from the shards' reports
    assert "3 submissions already graded with seed 9: kept" in merged.stdout
    rows = {r["submission"]: r["total"] for r in csv.DictReader((out / "gradebook.csv").open())}
    assert rows == {"student0": "10", "student1": "0", "student2": "10"}
    (tmp_path / "c" / "student1.ipynb").write_bytes(SOLVED)  # a late fix: only it is graded again
    again = grade("--resume")
    assert "2 submissions already graded" in again.stdout and "student1" in again.stdout
    rows = {r["submission"]: r["total"] for r in csv.DictReader((out / "gradebook.csv").open())}
    assert rows == {"student0": "10", "student1": "10", "student2": "10"}
