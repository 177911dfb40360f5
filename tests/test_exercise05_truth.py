"""Exercise 5's reasoning tasks: the grader's reference answers are the truth.

The reference values of hidden cases come from running the solution notebook; here they are held
against what generated the cases (`recover_momentum`) and against a brute-force search
(`best_momentum`), through the grader, on two seeds.
"""

from __future__ import annotations

import numpy as np
import pytest

from grader.exercises.ex05_momentum import recorded_runs
from grader.reference import expected_values
from grader.spec import draw_cases
from grader.kernel import Limits
from grader.spec import exercises

SLUG = "05_momentum"


@pytest.fixture(scope="module", params=[5, 2026])
def reference(request):
    seed = request.param
    case_sets = draw_cases(exercises()[SLUG], seed)
    values = expected_values(exercises()[SLUG], case_sets, Limits())
    return seed, {cs.task.name: (list(cs.hidden), values[cs.task.name][len(cs.public):]) for cs in case_sets}


def test_recover_momentum_reference_finds_the_true_momentum(reference):
    seed, found = reference
    cases, values = found["recover_momentum"]
    truth = recorded_runs(np.random.default_rng([seed, *b"recover_momentum"]))
    assert len(values) == len(truth) == 10
    for (momentum, lr_curvature, path), (args,), (got_momentum, got_factors) in zip(truth, cases, values):
        assert np.array_equal(path, args)
        assert abs(got_momentum - momentum) < 1e-9 and np.allclose(got_factors, lr_curvature, rtol=1e-9)


def _contraction(lr: float, momentum: float, curvatures) -> float:
    return max(np.abs(np.roots([1.0, -(1 + momentum - lr * lam), momentum])).max()
               for lam in np.atleast_1d(curvatures))


def test_best_momentum_reference_beats_every_other_momentum(reference):
    _, found = reference
    cases, values = found["best_momentum"]
    steep_binds = 0
    for (lr, curvatures), best in zip(cases, values):
        rate = _contraction(lr, best, curvatures)
        grid = np.linspace(0, 0.999, 2000)
        assert rate <= min(_contraction(lr, mu, curvatures) for mu in grid) + 1e-9
        assert np.isclose(rate, np.sqrt(best), rtol=1e-6)
        flat_formula = (1 - np.sqrt(lr * np.min(curvatures))) ** 2  # the chapter's, flat direction only
        steep_binds += not np.isclose(best, flat_formula, rtol=1e-6)
    assert steep_binds >= 3  # the chapter's formula alone cannot pass
