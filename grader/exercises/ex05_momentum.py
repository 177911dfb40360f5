"""Exercise 05: momentum."""

import numpy as np

from grader.adapters import RUN_STEPS
from grader.compare import close
from grader.spec import Case, Exercise, Task

# momentum_step is one step of an optimizer; a single call would not show whether the learner
# returns the state the next step needs. The adapter runs it for several steps (grader.adapters)
# on the quadratic L(w) = 1/2 sum(curvature * w**2), whose gradient is curvature * w, from the
# given start and a zero velocity, and returns every weight and velocity along the way.
SEVERAL_STEPS = RUN_STEPS + '''
def call(fn, w0, curvature, lr, momentum, nesterov, steps):
    w0 = np.asarray(w0, dtype=float)
    return _run(lambda w, g, s, t: fn(w, g, s[0], lr, momentum, nesterov),
                curvature, np.zeros_like(w0), w0, [np.zeros_like(w0)], steps, 1, ["velocity"])
'''


def _shape(rng: np.random.Generator, i: int) -> tuple:
    if i % 3 == 2:
        return (int(rng.integers(1, 4)), int(rng.integers(2, 4)))  # a weight matrix
    return (int(rng.integers(1, 6)),)


def _momentum(rng: np.random.Generator, i: int) -> float:
    return [0.0, 0.9, 0.5, 0.99, float(rng.uniform(0.0, 0.999))][i % 5]


def _step_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(10):
        shape = _shape(rng, i)
        curvature = 10 ** rng.uniform(-1, 1, shape)
        mu = _momentum(rng, i)
        nesterov = bool(i % 2)
        # mostly stable runs, a little below the edge of the method (see the chapter)
        edge = 2 * (1 + mu) / ((1 + 2 * mu) if nesterov else 1) / curvature.max()
        lr = float(min(10 ** rng.uniform(-3, 0), edge * rng.uniform(0.3, 0.95)))
        w0 = rng.uniform(-3, 3, shape)
        steps = int(rng.integers(1, 13))
        cases.append((w0, curvature, lr, mu, nesterov, steps))
    return cases


def _effective_cases(rng: np.random.Generator) -> list[tuple]:
    return [(float(10 ** rng.uniform(-4, 0)), _momentum(rng, i) if i < 5 else float(rng.uniform(0, 0.999)))
            for i in range(8)]


def _rate_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(10):
        mu = _momentum(rng, i)
        if i % 2 == 0:
            curvature = float(10 ** rng.uniform(-1, 1))
            top = curvature
        else:
            curvature = 10 ** rng.uniform(-1, 1, int(rng.integers(2, 6)))
            top = curvature.max()
        lr = float(rng.uniform(0.02, 2.5) * (1 + mu) / top)  # stable and unstable alike
        if i == 3:  # exactly where the slow roots meet: a double root
            lam = float(curvature.min())
            lr = float(rng.uniform(0.01, 0.5) / lam)
            mu = float((1 - np.sqrt(lr * lam)) ** 2)
        cases.append((lr, mu, curvature))
    return cases


EXERCISE = Exercise(
    slug="05_momentum",
    title="Momentum",
    tasks=(
        Task(
            name="momentum_step",
            points=5,
            public=(
                Case((np.array([1.0]), np.array([2.0]), 0.1, 0.9, False, 3),
                     (np.array([[0.8], [0.46], [0.062]]), np.array([[-0.2], [-0.34], [-0.398]]))),
                Case((np.array([1.0]), np.array([2.0]), 0.1, 0.9, True, 3),
                     (np.array([[0.62], [0.2224], [-0.108352]]), np.array([[-0.2], [-0.304], [-0.31808]]))),
                Case((np.array([1.0, 4.0]), np.array([10.0, 0.5]), 0.05, 0.5, False, 2),
                     (np.array([[0.5, 3.9], [0.0, 3.7525]]), np.array([[-0.5, -0.1], [-0.5, -0.1475]]))),
                Case((np.array([1.0, -2.0]), np.array([1.0, 1.0]), 0.5, 0.0, False, 1),
                     (np.array([[0.5, -1.0]]), np.array([[-0.5, 1.0]]))),
                Case((np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 0.5], [2.0, 0.1]]), 0.1, 0.5, True, 2),
                     (np.array([[[0.85, 1.85], [2.1, 3.94]], [[0.6975, 1.68625], [1.32, 3.8709]]]),
                      np.array([[[-0.1, -0.1], [-0.6, -0.04]], [[-0.135, -0.1425], [-0.72, -0.0594]]]))),
            ),
            hidden=_step_cases,
            call=SEVERAL_STEPS,
            compare=close(rtol=1e-6, atol=1e-12),
            hint="First the velocity, v_new = momentum * velocity - lr * g (also when momentum is 0). Then "
                 "new_w = w + v_new, or with nesterov new_w = w + momentum * v_new - lr * g. Return "
                 "(new_w, v_new) as new arrays; never update w or velocity in place.",
        ),
        Task(
            name="effective_lr",
            points=2,
            public=(
                Case((0.01, 0.9), 0.1),
                Case((0.1, 0.0), 0.1),
                Case((0.003, 0.99), 0.3),
                Case((0.15, 0.5), 0.3),
            ),
            hidden=_effective_cases,
            compare=close(rtol=1e-9),
            hint="On a constant gradient the velocity tends to lr * (1 + mu + mu**2 + ...) = lr / (1 - mu).",
        ),
        Task(
            name="momentum_rate",
            points=3,
            public=(
                Case((0.1, 0.0, 2.0), 0.8),
                Case((0.5, 0.0, 10.0), 4.0),
                Case((0.1, 0.25, 1.0), 0.8589454172900135),
                Case((0.19, 0.0, np.array([10.0, 0.5])), 0.905),
                Case((0.19, 0.5, np.array([10.0, 0.5])), 0.7071067811865476),
                Case((0.19, 0.95, np.array([10.0, 0.5])), 0.9746794344808963),
            ),
            hidden=_rate_cases,
            compare=close(rtol=1e-6, atol=1e-12),
            hint="For each curvature lam, take the two roots of z**2 - (1 + mu - lr * lam) * z + mu "
                 "(np.roots, or the quadratic formula with a complex square root) and their largest "
                 "absolute value; return the largest over all curvatures, as a float.",
        ),
    ),
)
