"""Exercise 08: hyperparameter search, one step past chapter 8.

The chapter draws log-uniform samples, builds grids, and runs Optuna with a MedianPruner; it
names Hyperband. The exercise asks how many random trials a search needs (warm-up), which trials
Optuna's MedianPruner stops in a table of learning curves (diagnosis from data; Optuna prunes on
a trial's best value so far, not on its latest), and what successive halving, Hyperband's
building block, picks and spends on such a table (stretch).
"""

from typing import Any

import numpy as np

from grader.casegen import clear_of_integers, draw
from grader.compare import Verdict, exact_int
from grader.spec import Case, Exercise, Question, Task

INT = exact_int()


def pruned_steps(got: Any, expected: Any, args: tuple) -> Verdict:
    """A list with, per trial, the step at which it was pruned (an int) or None; all exact."""
    if not isinstance(got, (list, tuple)):
        return Verdict(False, "expected a list with one entry per trial")
    if len(got) != len(expected):
        return Verdict(False, f"expected {len(expected)} entries, one per trial, got {len(got)}")
    for i, (g, e) in enumerate(zip(got, expected)):
        if g is not None and (not isinstance(g, int) or isinstance(g, bool)):
            return Verdict(False, f"trial {i}: expected an int step or None, got {type(g).__name__}")
        if g != e:
            what = "pruned" if e is not None and g is None else "not pruned" if e is None else "pruned at another step"
            return Verdict(False, f"trial {i}: wrong, it should be {what}")
    return Verdict(True)


def winner_and_epochs(got: Any, expected: Any, args: tuple) -> Verdict:
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return Verdict(False, "expected a tuple (winner, epochs)")
    for name, g, e in zip(("winner", "epochs"), got, expected):
        verdict = INT(g, e, args)
        if not verdict.ok:
            return Verdict(False, f"{name}: {verdict.why}")
    return Verdict(True)


def _trials_cases(rng: np.random.Generator) -> list[tuple]:
    def case(_: int) -> tuple | None:
        fraction = float(rng.choice([0.05, 0.01, 0.1, 10 ** rng.uniform(-4, -0.1)]))
        confidence = float(rng.choice([0.95, 0.99, 0.5, rng.uniform(0.01, 0.9999)]))
        exact = np.log1p(-confidence) / np.log1p(-fraction)
        return (fraction, confidence) if clear_of_integers(exact) else None  # no case on a knife's edge
    return draw(10, case)


def learning_curves(rng: np.random.Generator, n_trials: int, n_epochs: int) -> list[list[float]]:
    """Validation accuracies after each epoch: rising to a trial's own ceiling at its own speed,
    with noise, so that curves cross and dip; rounded to 3 decimals (ties happen)."""
    curves = []
    for _ in range(n_trials):
        ceiling, speed = rng.uniform(0.1, 0.97), 10 ** rng.uniform(-1, 0.5)
        epochs = np.arange(1, n_epochs + 1)
        curve = ceiling * (1 - np.exp(-speed * epochs)) + rng.normal(0, 0.03, n_epochs)
        curves.append([float(v) for v in np.clip(np.round(curve, 3), 0, 1)])
    return curves


def _pruner_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        curves = learning_curves(rng, int(rng.integers(2, 16)), int(rng.integers(1, 8)))
        return (curves, int(rng.integers(0, 5)), int(rng.integers(0, 3)))
    return draw(10, case)


def _halving_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        eta = int(rng.choice([2, 3, 4]))
        table = learning_curves(rng, int(rng.integers(1, 40)), int(rng.integers(1, 30)))
        return (table, eta)
    return draw(10, case)


TABLE = [[0.2, 0.5, 0.6, 0.62],
         [0.4, 0.45, 0.5, 0.52],
         [0.1, 0.3, 0.7, 0.8],
         [0.3, 0.6, 0.65, 0.7],
         [0.35, 0.4, 0.42, 0.43]]
EXERCISE = Exercise(
    slug="08_hyperparameter_search",
    title="Hyperparameter search: how many trials, what the pruner stops, successive halving",
    written=(Question("halving_saves_and_risks", points=2),),  # the Try-it question, graded by hand
    tasks=(
        Task(
            name="trials_needed",
            points=2,
            level="warm-up",
            public=(
                Case((0.05, 0.95), 59),
                Case((0.01, 0.95), 299),
                Case((0.5, 0.75), 2),
                Case((0.1, 0.05), 1),
            ),
            hidden=_trials_cases,
            compare=INT,
            hint="Section 'Grid against random search': each random trial lands in the best fraction "
                 "of the space independently, with that fraction as its probability. What is the "
                 "probability that none of n trials does? Reaching the confidence exactly counts.",
        ),
        Task(
            name="median_pruner",
            points=4,
            level="core",
            public=(
                Case((TABLE, 0, 0), [None, 1, 0, None, 1]),
                Case((TABLE, 3, 0), [None, None, None, None, 1]),
                Case((TABLE, 1, 2), [None, 2, None, 3, 2]),
                Case(([[0.5, 0.5], [0.6, 0.4]], 1, 0), [None, None]),
            ),
            hidden=_pruner_cases,
            compare=pruned_steps,
            hint="Section 'Pruning bad trials', then Optuna's optuna/pruners/_percentile.py: which "
                 "trials count for the median (pruned ones do not), which of the trial's own values "
                 "is compared with it, and when n_startup_trials and n_warmup_steps let it act.",
        ),
        Task(
            name="successive_halving",
            points=4,
            level="stretch",
            public=(
                Case((TABLE, 2), (1, 9)),
                Case((TABLE, 3), (1, 7)),
                Case(([[0.9]], 2), (0, 1)),
            ),
            hidden=_halving_cases,
            compare=winner_and_epochs,
            hint="See 'Pruning bad trials' in chapter 8. Hyperband's building block: at budgets of 1, eta, eta squared ... epochs, rank the "
                 "survivors by their accuracy at that budget and keep the best n // eta; stop when "
                 "fewer than one would remain or the table has no column for the next budget. A trial "
                 "costs the largest budget it reached.",
        ),
    ),
)
