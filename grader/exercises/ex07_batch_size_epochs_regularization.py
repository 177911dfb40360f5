"""Exercise 07: batch size and epochs, one step past chapter 7.

The chapter states the noise of a minibatch gradient and shows EarlyStopping's rule with its
defaults. The exercise asks for the inverse of the noise formula (warm-up), the smallest patience
that lets early stopping reach the best epoch of a log (diagnosis from data), and EarlyStopping
with the settings the chapter only names or leaves out: min_delta, baseline and
start_from_epoch (stretch).
"""

from typing import Any

import numpy as np

from grader.casegen import clear_of_integers, draw
from grader.compare import Verdict, exact_int
from grader.spec import Case, Exercise, Question, Task

INT = exact_int()


def two_epochs(got: Any, expected: Any, args: tuple) -> Verdict:
    """(last_epoch, best_epoch): a pair of ints, each exactly right."""
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return Verdict(False, "expected a tuple (last_epoch, best_epoch)")
    for name, g, e in zip(("last_epoch", "best_epoch"), got, expected):
        verdict = INT(g, e, args)
        if not verdict.ok:
            return Verdict(False, f"{name}: {verdict.why}")
    return Verdict(True)


def _noise_target_cases(rng: np.random.Generator) -> list[tuple]:
    def case(_: int) -> tuple | None:
        n = int(rng.choice([int(rng.integers(2, 50)), int(rng.integers(50, 100_000))]))
        sigma2 = float(10 ** rng.uniform(-3, 3))
        target = sigma2 * float(10 ** rng.uniform(-5, 0.3))  # above sigma2 now and then: batch 1
        exact = sigma2 * n / (target * (n - 1) + sigma2)     # the real-valued edge
        return (sigma2, n, target) if clear_of_integers(exact) else None  # no case on a knife's edge
    return draw(10, case)


def validation_log(rng: np.random.Generator, n: int) -> list[float]:
    """A validation-loss log: falling with noise, then turning up; coarse now and then (ties)."""
    epochs = np.arange(n)
    turn = rng.uniform(0, 1.5 * n)
    losses = (1 / (1 + 0.3 * epochs) + 0.01 * np.maximum(0, epochs - turn)
              + rng.normal(0, float(10 ** rng.uniform(-3, -1.5)), n))
    if rng.uniform() < 0.3:
        losses = np.round(losses, 2)
    return [float(x) for x in np.abs(losses) + 0.05]


def _patience_cases(rng: np.random.Generator) -> list[tuple]:
    return [(validation_log(rng, int(rng.integers(1, 80))),) for _ in range(12)]


def _stopping_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        n = int(rng.integers(1, 60))
        losses = validation_log(rng, n)
        patience = int(rng.integers(1, 8))
        min_delta = 0.0 if i % 3 == 0 else float(10 ** rng.uniform(-3.5, -1.5))
        baseline = None if i % 2 else float(np.quantile(losses, rng.uniform(0, 1)) + rng.uniform(-0.01, 0.01))
        start = 0 if i % 4 == 1 else int(rng.integers(0, n + 3))
        return (losses, patience, min_delta, baseline, start)
    return draw(14, case)


LOG = [1.0, 0.8, 0.7, 0.75, 0.71, 0.7, 0.69, 0.72, 0.73, 0.74, 0.6]
EXERCISE = Exercise(
    slug="07_batch_size_epochs_regularization",
    title="Batch size and epochs: noise, patience and EarlyStopping's settings",
    written=(Question("larger_batch", points=2),),  # the Try-it question, graded by hand
    tasks=(
        Task(
            name="batch_for_noise",
            points=2,
            level="warm-up",
            public=(
                Case((1.0, 1000, 0.1), 10),
                Case((4.0, 100, 5.0), 1),
                Case((2.0, 50, 1e-6), 50),
                Case((0.5, 1347, 0.005), 94),
            ),
            hidden=_noise_target_cases,
            compare=INT,
            hint="Section 'Batch size: the noise of a step' states the expected squared error of a "
                 "batch gradient drawn without replacement. It falls as the batch grows: solve it "
                 "for the batch size, round up to a whole batch, and stay between 1 and n.",
        ),
        Task(
            name="minimum_patience",
            points=4,
            level="core",
            public=(
                Case((LOG,), 4),
                Case(([2.0],), 1),
                Case(([1.0, 2.0, 3.0],), 1),
                Case(([1.0, 1.0, 1.0, 0.5, 0.6, 0.4],), 3),
            ),
            hidden=_patience_cases,
            compare=INT,
            hint="Section 'Epochs: when to stop': the counter restarts at every epoch whose loss is "
                 "strictly below the best so far, and a tie is not an improvement. Find the epochs "
                 "that improve up to the lowest loss: how far apart are they?",
        ),
        Task(
            name="early_stopping_settings",
            points=4,
            level="stretch",
            public=(
                Case((LOG, 4, 0.0, None, 0), (10, 10)),
                Case((LOG, 4, 0.015, None, 0), (6, 2)),
                Case((LOG, 2, 0.0, None, 0), (4, 2)),
                Case((LOG, 2, 0.0, 0.65, 0), (3, 2)),
                Case((LOG, 3, 0.0, None, 4), (9, 6)),
                Case((LOG, 2, 0.0, None, 20), (10, 0)),
            ),
            hidden=_stopping_cases,
            compare=two_epochs,
            hint="See 'Epochs: when to stop' in chapter 7, then read keras/src/callbacks/early_stopping.py and monitor_callback.py: when does an "
                 "epoch count as an improvement once min_delta is set, what does a baseline change "
                 "about resetting the counter (and about the best epoch), and what happens to the "
                 "epochs before start_from_epoch?",
        ),
    ),
)
