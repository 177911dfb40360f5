"""Expected values kept across batches (grader.expected_cache): reused only for the very same
solution, cases, grader and environment, and read back exactly or not at all."""

from __future__ import annotations

import importlib.metadata
import json
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader import expected_cache, grade, reference
from grader.spec import CaseSet, draw_cases, exercises

REPO = Path(__file__).resolve().parent.parent
SLUG = "01_parameters_vs_hyperparameters"
EXERCISE = exercises()[SLUG]
SOLUTION = REPO / "solutions" / f"{SLUG}.ipynb"


def key(seed: int = 1, solution: bytes | None = None) -> str:
    return expected_cache.cache_key(EXERCISE, draw_cases(EXERCISE, seed),
                                    SOLUTION.read_bytes() if solution is None else solution)


def test_the_key_is_stable_and_changes_with_every_input(monkeypatch):
    base = key()
    assert key() == base
    assert key(seed=2) != base
    assert key(solution=SOLUTION.read_bytes() + b" ") != base
    real_code = expected_cache._grader_code
    monkeypatch.setattr(expected_cache, "_grader_code", lambda: real_code() + b"a change to the harness")
    assert key() != base
    monkeypatch.undo()
    real_environment = expected_cache._environment
    monkeypatch.setattr(expected_cache, "_environment", lambda: real_environment() + b"numpy==99")
    assert key() != base


def test_the_grader_code_and_the_environment_are_part_of_the_key():
    code = expected_cache._grader_code()
    assert code == expected_cache._grader_code()
    environment = json.loads(expected_cache._environment())
    assert any(d.startswith("numpy==") for d in environment[-1])
    # read from the headers alone, every distribution as importlib.metadata parses it whole
    assert environment[-1] == sorted({f"{d.metadata['Name']}=={d.version}"
                                      for d in importlib.metadata.distributions() if d.metadata["Name"]})


VALUES = {"count_dense_params": [2410, 0], "learning_rate_from_run": [0.05, float("nan")],
          "winner_optimism": [np.array([[1.5, -np.inf]]), (1, "a", None)]}


def case_sets_of(sizes: dict[str, int]):
    return [CaseSet(t, (), tuple((i,) for i in range(sizes[t.name]))) for t in EXERCISE.tasks]


def test_values_come_back_exactly(tmp_path):
    case_sets = case_sets_of({name: len(values) for name, values in VALUES.items()})
    expected_cache.store(tmp_path, "k", VALUES)
    back = expected_cache.load(tmp_path, "k", case_sets)
    assert back["count_dense_params"] == [2410, 0] and type(back["count_dense_params"][0]) is int
    assert back["learning_rate_from_run"][0] == 0.05 and np.isnan(back["learning_rate_from_run"][1])
    array = back["winner_optimism"][0]
    assert array.dtype == VALUES["winner_optimism"][0].dtype and np.array_equal(array, VALUES["winner_optimism"][0])
    assert back["winner_optimism"][1] == (1, "a", None)


@pytest.mark.parametrize("spoil", [
    lambda text: text[: len(text) // 2],  # cut short
    lambda text: json.dumps({**json.loads(text), "key": "other"}),  # another key's file under this name
    lambda text: json.dumps({**json.loads(text), "format": 0}),
    lambda text: "[]",
])
def test_a_file_that_does_not_read_back_exactly_is_ignored(tmp_path, spoil):
    case_sets = case_sets_of({name: len(values) for name, values in VALUES.items()})
    expected_cache.store(tmp_path, "k", VALUES)
    path = expected_cache.cache_file(tmp_path, "k")
    path.write_text(spoil(path.read_text()))
    assert expected_cache.load(tmp_path, "k", case_sets) is None


def test_a_file_with_other_cases_is_ignored(tmp_path):
    expected_cache.store(tmp_path, "k", VALUES)
    assert expected_cache.load(tmp_path, "k", case_sets_of({"count_dense_params": 3, "learning_rate_from_run": 2,
                                                            "winner_optimism": 2})) is None


def test_a_batch_reuses_the_reference_run_until_the_solution_changes(tmp_path, monkeypatch):
    solutions = tmp_path / "solutions"
    solutions.mkdir()
    shutil.copy(SOLUTION, solutions / SOLUTION.name)
    cache = tmp_path / "cache"
    runs: list[str] = []
    real = grade.run_tasks

    def counting(submission, *args, **kwargs):
        runs.append(str(submission.path))
        return real(submission, *args, **kwargs)

    monkeypatch.setattr(grade, "run_tasks", counting)  # the submissions' runs
    monkeypatch.setattr(reference, "run_tasks", counting)  # the reference run's

    def batch() -> float:
        runs.clear()
        [result] = grade.grade_batch(EXERCISE, [SOLUTION], seed=4, solutions_dir=solutions, cache_dir=cache)
        return result.score

    assert batch() == EXERCISE.points and len(runs) == 2  # the reference run, then the submission
    assert len(list(cache.glob("expected-*.json"))) == 1
    assert batch() == EXERCISE.points and runs == [str(SOLUTION)]  # the values were kept

    notebook = nbformat.read(solutions / SOLUTION.name, as_version=4)
    for cell in notebook.cells:
        if "def count_dense_params" in cell.source:  # the same answers, another solution
            cell.source = cell.source.replace("# BEGIN SOLUTION", "# BEGIN SOLUTION\n    layer_sizes = list(layer_sizes)")
    nbformat.write(notebook, solutions / SOLUTION.name)
    assert batch() == EXERCISE.points and len(runs) == 2  # run again for the changed solution
    assert len(list(cache.glob("expected-*.json"))) == 2
