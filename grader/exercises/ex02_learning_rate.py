"""Exercise 02: the learning rate."""

import numpy as np

from grader.compare import close, exact_choice
from grader.spec import Case, Exercise, Task

# gradient_descent takes a function, which JSON cannot carry: a case is a quadratic loss
# L(x) = 1/2 x·A·x - b·x given as plain data, and this adapter builds its gradient A x - b.
# It also holds the learner to two points of the contract: one grad call per step, x0 untouched.
QUADRATIC_GRADIENT = '''
def call(fn, A, b, x0, lr, steps):
    A = np.asarray(A, dtype=float)
    b = np.asarray(b, dtype=float)
    calls = []
    def grad(x):
        calls.append(1)
        x = np.asarray(x, dtype=float)
        return A @ x - b if A.ndim == 2 else A * x - b
    start = np.array(x0, dtype=float)
    path = fn(grad, x0, lr, steps)
    if len(calls) != steps:
        raise AssertionError(f"grad was called {len(calls)} times for {steps} steps; "
                             "call it once per step")
    if not np.array_equal(np.asarray(x0, dtype=float), start):
        raise AssertionError("x0 was changed in place; start from a copy of it")
    return path
'''


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    """A random symmetric positive-definite matrix with curvatures spread over 3 decades."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    return q @ np.diag(10 ** rng.uniform(-1.5, 1.5, d)) @ q.T


def _descent_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(8):
        if i % 2 == 0:  # one dimension
            a = float(10 ** rng.uniform(-1, 1))
            x0 = float(rng.uniform(-3, 3))
            b = float(rng.uniform(-1, 1))
            edge = 2 / a
        else:
            d = int(rng.integers(2, 5))
            a = _spd(rng, d)
            x0 = rng.uniform(-3, 3, d)
            b = rng.uniform(-1, 1, d)
            edge = 2 / np.linalg.eigvalsh(a).max()
        lr = float(edge * rng.uniform(0.05, 1.2))  # some runs diverge, on purpose
        steps = 0 if i == 0 else int(rng.integers(1, 40))
        cases.append((a, b, x0, lr, steps))
    return cases


def _curvatures(rng: np.random.Generator) -> list[tuple]:
    cases = [(float(10 ** rng.uniform(-3, 3)),) for _ in range(3)]
    cases += [(_spd(rng, int(rng.integers(2, 6))),) for _ in range(5)]
    return cases


def _loss_curves(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(12):
        n = int(rng.integers(2, 40))
        kind = i % 4
        if kind == 0:  # a gradient-descent run on a parabola, stable or not
            r = rng.uniform(-1.3, 0.99)
            losses = (r ** (2 * np.arange(n))) * rng.uniform(0.5, 5)
        elif kind == 1:  # a noisy decreasing curve, noise of varying size
            trend = np.geomspace(rng.uniform(1, 5), rng.uniform(0.01, 0.5), n)
            losses = trend * np.exp(rng.normal(0, rng.uniform(0.0, 0.6), n))
        elif kind == 2:  # a blow-up, sometimes to inf or nan
            losses = np.geomspace(1, 10 ** rng.uniform(1, 300), n)
            if n > 2 and rng.uniform() < 0.6:
                losses[int(rng.integers(1, n))] = [np.nan, np.inf][int(rng.integers(0, 2))]
        else:  # exactly on the one-third border: ups * 3 == steps
            steps = 3 * int(rng.integers(1, 10))
            ups = steps // 3 - int(rng.integers(0, 2))
            moves = np.array([1.0] * ups + [-1.0] * (steps - ups))
            rng.shuffle(moves)
            sizes = rng.uniform(0.1, 0.2, steps) * np.where(moves > 0, 0.5, 1.0)
            losses = 10.0 + np.concatenate([[0.0], np.cumsum(moves * sizes)])
        cases.append(([float(v) for v in losses],))
    return cases


EXERCISE = Exercise(
    slug="02_learning_rate",
    title="The learning rate",
    tasks=(
        Task(
            name="gradient_descent",
            points=4,
            public=(
                Case((2.0, 0.0, 1.0, 0.25, 3), np.array([1.0, 0.5, 0.25, 0.125])),
                Case((1.5, 0.0, 1.0, 0.01, 1), np.array([1.0, 0.985])),
                Case((2.0, 0.0, 1.0, 1.05, 2), np.array([1.0, -1.1, 1.21])),
                Case((2.0, 2.0, 0.0, 0.25, 2), np.array([0.0, 0.5, 0.75])),
                Case((2.0, 0.0, 3.0, 0.1, 0), np.array([3.0])),
                Case((np.array([[10.0, 0.0], [0.0, 0.5]]), np.zeros(2), np.array([1.0, 4.0]), 0.1, 2),
                     np.array([[1.0, 4.0], [0.0, 3.8], [0.0, 3.61]])),
            ),
            hidden=_descent_cases,
            call=QUADRATIC_GRADIENT,
            compare=close(rtol=1e-7, atol=1e-12),
            hint="Keep a list starting with x0 (as a float array), append x - lr * grad(x) once per step, "
                 "and return np.array(list): its first row is x0 and it has steps + 1 rows.",
        ),
        Task(
            name="max_stable_lr",
            points=3,
            public=(
                Case((2.0,), 1.0),
                Case((10.0,), 0.2),
                Case((np.array([[10.0, 0.0], [0.0, 0.5]]),), 0.2),
                Case((np.array([[2.0, 1.0], [1.0, 2.0]]),), 2 / 3),
            ),
            hidden=_curvatures,
            compare=close(rtol=1e-9),
            hint="It is 2 / L. For a matrix, L is the largest eigenvalue (np.linalg.eigvalsh), "
                 "not the largest entry: try [[2, 1], [1, 2]].",
        ),
        Task(
            name="classify_run",
            points=3,
            public=(
                Case(([4.0, 2.0, 1.0, 0.5],), "converging"),
                Case(([1.0, 2.0, 4.0, 8.0],), "diverging"),
                Case(([1.0, 0.5, 0.8, 0.4, 0.6, 0.3, 0.5],), "oscillating"),
                Case(([1.0, float("nan")],), "diverging"),
                Case(([2.3, 2.0, 2.1, 1.9, 1.8, 1.7, 1.6],), "converging"),
                Case(([1.0, 1.0, 1.0],), "converging"),
                Case(([5.0, 1.0, 6.0],), "diverging"),
            ),
            hidden=_loss_curves,
            compare=exact_choice(("diverging", "oscillating", "converging")),
            hint="Check in this order: any nan/inf or last > first means 'diverging'; then count the "
                 "steps where the loss strictly went up and compare 3 * ups with len(losses) - 1.",
        ),
    ),
)
