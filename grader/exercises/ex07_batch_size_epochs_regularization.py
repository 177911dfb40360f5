"""Exercise 07: batch size, epochs and regularisation."""

from typing import Any

import numpy as np

from grader.compare import Verdict, close, exact_int
from grader.spec import Case, Exercise, Task

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


def _batch_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(10):
        batch = int(2 ** rng.integers(0, 11)) if i % 2 else int(rng.integers(1, 700))
        kind = i % 5
        if kind == 0:    # an exact multiple, where ceil and floor+1 differ
            n = batch * int(rng.integers(1, 300))
        elif kind == 1:  # a batch larger than the data set
            n = int(rng.integers(1, batch + 1))
        elif kind == 2:  # past a float's 53 bits the +1 is lost: float division gives 2**k
            batch = int(rng.integers(2, 10 ** 6))
            low = 55 - int(np.log2(batch))
            n = batch * 2 ** int(rng.integers(low, low + 6)) + 1
        else:
            n = int(rng.integers(1, 100_000))
        cases.append((n, batch))
    return cases


def _scaling_cases(rng: np.random.Generator) -> list[tuple]:
    return [(float(10 ** rng.uniform(-4, 0)), int(2 ** rng.integers(0, 10)), int(2 ** rng.integers(0, 14)))
            for _ in range(8)]


def _noise_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(8):
        n = int(rng.integers(2, 100_000))
        batch = [1, n, n - 1][i] if i < 3 else int(rng.integers(1, n + 1))
        cases.append((float(10 ** rng.uniform(-3, 3)), n, batch))
    return cases


def _loss_curves(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(12):
        n = int(rng.integers(1, 60))
        kind = i % 4
        if kind == 0:    # a falling curve that turns up: the usual overfitting shape
            epochs = np.arange(n)
            turn = rng.uniform(0, n)
            losses = 1 / (1 + epochs) + 0.02 * np.maximum(0, epochs - turn) + rng.normal(0, 0.01, n)
        elif kind == 1:  # coarse values, so that ties with the best loss happen
            losses = np.round(2 + np.cumsum(rng.normal(-0.02, 0.1, n)), 1)
        elif kind == 2:  # a plateau of exact ties right after the best epoch
            losses = np.concatenate([np.linspace(2, 1, n // 2 + 1), np.full(n, 1.0)])[:n]
        else:            # a divergence: the loss becomes inf
            losses = np.geomspace(1, 10 ** rng.uniform(0, 3), n)[::-1].copy()
            losses[int(rng.integers(0, n)):] = np.inf
        cases.append(([float(x) for x in losses], int(rng.integers(1, 8))))
    return cases


EXERCISE = Exercise(
    slug="07_batch_size_epochs_regularization",
    title="Batch size, epochs and regularisation",
    tasks=(
        Task(
            name="steps_per_epoch",
            points=2,
            public=(
                Case((1347, 32), 43),
                Case((50000, 128), 391),
                Case((10, 10), 1),
                Case((10, 11), 1),
                Case((10 ** 18 + 1, 10 ** 9), 10 ** 9 + 1),
            ),
            hidden=_batch_cases,
            compare=INT,
            hint="Round up in integers: -(-n // batch_size), or n // batch_size plus one when "
                 "there is a remainder. n / batch_size is a float and loses digits for large n.",
        ),
        Task(
            name="scaled_lr",
            points=2,
            public=(
                Case((0.1, 32, 128), 0.4),
                Case((0.1, 32, 512), 1.6),
                Case((0.01, 256, 64), 0.0025),
                Case((0.2, 100, 100), 0.2),
            ),
            hidden=_scaling_cases,
            compare=close(rtol=1e-9),
            hint="k times the batch, k times the rate: base_lr * batch / base_batch.",
        ),
        Task(
            name="minibatch_noise",
            points=2,
            public=(
                Case((2.0, 1347, 1), 2.0),
                Case((2.0, 1347, 1347), 0.0),
                Case((1.0, 101, 10), 0.091),
                Case((3.0, 5, 2), 1.125),
            ),
            hidden=_noise_cases,
            compare=close(rtol=1e-9, atol=1e-15),
            hint="sigma2 / batch_size times the finite-population factor (n - batch_size) / (n - 1).",
        ),
        Task(
            name="early_stopping_epoch",
            points=4,
            public=(
                Case(([1.0, 0.8, 0.7, 0.75, 0.71, 0.7, 0.69, 0.72, 0.73, 0.74, 0.6], 3), (5, 2)),
                Case(([1.0, 0.8, 0.7, 0.75, 0.71, 0.7, 0.69, 0.72, 0.73, 0.74, 0.6], 4), (10, 10)),
                Case(([1.0, 0.8, 0.7, 0.75, 0.71, 0.7, 0.69, 0.72, 0.73, 0.74, 0.6], 1), (3, 2)),
                Case(([2.0], 1), (0, 0)),
                Case(([1.0, 1.0, 1.0, 0.5], 2), (2, 0)),
                Case(([3.0, 2.0, float("inf"), float("inf")], 5), (3, 1)),
            ),
            hidden=_loss_curves,
            compare=two_epochs,
            hint="Keep the best loss, its epoch and a counter; an epoch improves only if its loss "
                 "is strictly below the best (a tie does not); otherwise add one to the counter "
                 "and stop after the epoch at which it reaches patience.",
        ),
    ),
)
