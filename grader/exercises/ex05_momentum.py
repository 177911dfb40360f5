"""Exercise 05: momentum, one step past chapter 5.

The chapter shows `momentum_step`, `effective_lr` and `momentum_rate`. The exercise asks for what
it states but does not compute: how many steps the velocity needs to build up (warm-up, the
inverse of the chapter's 1 - mu**t), the momentum and step factors behind a recorded path
(diagnosis from data), and the best momentum for a learning rate when either the flat or the
steep direction can be the one that limits it (a decision with a numeric answer).
"""

import numpy as np

from grader.casegen import clear_of_integers, draw
from grader.compare import close, exact_int
from grader.spec import Case, Exercise, Question, Task


def _build_up_cases(rng: np.random.Generator) -> list[tuple]:
    def case(_: int) -> tuple | None:
        mu = float(rng.choice([0.5, 0.9, 0.99, rng.uniform(0.01, 0.999)]))
        fraction = float(rng.choice([0.5, 0.9, 0.99, rng.uniform(0.01, 0.9999)]))
        # no case on a knife's edge
        return (mu, fraction) if clear_of_integers(np.log1p(-fraction) / np.log(mu), relative=False) else None
    # no momentum: the first step is the whole speed
    return draw(10, case, first=[(0.0, float(rng.uniform(0.01, 0.99)))])


def heavy_ball_path(w0: np.ndarray, lr_curvature: np.ndarray, momentum: float, steps: int) -> np.ndarray:
    """Weights of heavy ball from rest on loss(w) = 1/2 sum(curvature * w**2): rows w_0 ... w_steps."""
    w, v, rows = w0.copy(), np.zeros_like(w0), [w0.copy()]
    for _ in range(steps):
        v = momentum * v - lr_curvature * w  # lr * g, with g = curvature * w
        w = w + v
        rows.append(w)
    return np.array(rows)


def recorded_runs(rng: np.random.Generator) -> list[tuple[float, np.ndarray, np.ndarray]]:
    """(true momentum, true lr * curvature, recorded path) for the hidden cases; tests check that
    the solution recovers the truth, the grader uses the paths only."""
    runs = []
    for i in range(10):
        d = int(rng.integers(1, 5))
        momentum = [0.0, 0.9, 0.5, float(rng.uniform(0, 0.99)), float(rng.uniform(0.8, 0.99))][i % 5]
        # stable: lr * curvature below 2 (1 + momentum), and not so small that nothing moves
        lr_curvature = rng.uniform(0.01, 0.95, d) * 2 * (1 + momentum)
        w0 = rng.choice([-1.0, 1.0], d) * rng.uniform(0.5, 5, d)
        runs.append((momentum, lr_curvature, heavy_ball_path(w0, lr_curvature, momentum, int(rng.integers(5, 30)))))
    return runs


def _recover_cases(rng: np.random.Generator) -> list[tuple]:
    return [(path,) for _, _, path in recorded_runs(rng)]


def _best_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        lr = float(10 ** rng.uniform(-3, 0))
        low = float(10 ** rng.uniform(-3, -0.5))  # lr * the flattest curvature
        if i in (1, 7):  # a single curvature, as a float
            return (lr, float(rng.choice([low, rng.uniform(1, 3.6)]) / lr))
        high = float(rng.uniform(low, 3.6))
        if i % 2 == 0:  # the steep direction binds: sqrt(high) + sqrt(low) > 2
            low, high = float(10 ** rng.uniform(-1, -0.3)), float(rng.uniform(3.0, 3.9))
        curvatures = np.r_[low, rng.uniform(low, high, int(rng.integers(0, 3))), high] / lr
        rng.shuffle(curvatures)
        return (lr, curvatures)
    return draw(10, case)


A = np.array
EXERCISE = Exercise(
    slug="05_momentum",
    title="Momentum: build-up, diagnosis and the best momentum",
    written=(Question("rate_and_momentum", points=2),),  # the Try-it question, graded by hand
    tasks=(
        Task(
            name="steps_to_build_up",
            points=2,
            level="warm-up",
            public=(
                Case((0.9, 0.63), 10),
                Case((0.5, 0.75), 2),
                Case((0.99, 0.95), 299),
                Case((0.0, 0.5), 1),
            ),
            hidden=_build_up_cases,
            compare=exact_int(),
            hint="Section 'The effective step size': after t steps on a constant gradient the velocity "
                 "has reached the fraction one minus momentum to the power t of its terminal value. "
                 "Solve for the smallest whole t that reaches the fraction (reaching it exactly counts), "
                 "and take care of momentum 0.",
        ),
        Task(
            name="recover_momentum",
            points=4,
            level="core",
            public=(
                Case((A([[1.0], [0.5], [0.0], [-0.25]]),), (0.5, A([0.5]))),
                Case((A([[2.0, -1.0], [1.8, -0.5], [1.62, -0.25], [1.458, -0.125]]),), (0.0, A([0.1, 0.5]))),
                Case((heavy_ball_path(A([1.0, 4.0]), A([0.95, 0.0475]), 0.8, 12),), (0.8, A([0.95, 0.0475]))),
            ),
            hidden=_recover_cases,
            compare=close(rtol=1e-6, atol=1e-9),
            hint="Section 'How fast, exactly': eliminating the velocity gives a recurrence that links "
                 "three consecutive weights, with one unknown coefficient per direction and the momentum "
                 "shared by all. Starting from rest, the first step is plain gradient descent. Collect "
                 "every step's equation and solve them together (least squares).",
        ),
        Task(
            name="best_momentum",
            points=4,
            level="stretch",
            public=(
                Case((0.19, A([10.0, 0.5])), 0.4785585997031023),
                Case((0.3, A([10.0, 0.5])), 0.5358983848622454),
                Case((0.01, 100.0), 0.0),
                Case((0.1, A([1.0, 20.0, 5.0, 0.01])), 0.9377544467966324),
            ),
            hidden=_best_cases,
            compare=close(rtol=1e-6, atol=1e-9),
            hint="Section 'How fast, exactly': the two roots multiply to the momentum, so no direction "
                 "can contract faster than the square root of the momentum, and it does so exactly "
                 "while its roots are complex. For which momenta is that true of every curvature, "
                 "the flattest and the steepest? The smallest such momentum is the best.",
        ),
    ),
)
