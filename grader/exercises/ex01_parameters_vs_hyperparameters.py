"""Exercise 01: parameters and hyperparameters, one step past the chapter."""

import numpy as np

from grader.casegen import draw
from grader.compare import close, exact_int
from grader.spec import Case, Exercise, Question, Task

LINE_X = np.array([0.0, 1.0, 2.0, 3.0])
LINE_Y = np.array([1.0, 3.0, 5.0, 7.0])
SQRT_PI = float(np.sqrt(np.pi))


def _layer_sizes(rng: np.random.Generator) -> list[tuple]:
    def case(_: int) -> tuple:
        depth = int(rng.integers(2, 6))
        return ([int(n) for n in rng.integers(1, 300, size=depth)],)
    return draw(8, case, first=[([int(rng.integers(1, 50))],)])  # one size: no layer, no parameters


def _line_path(x: np.ndarray, y: np.ndarray, lr: float, start: np.ndarray, steps: int) -> np.ndarray:
    """Full-batch gradient descent on the mean squared error of a line, every point kept."""
    path = [start]
    for _ in range(steps):
        w, b = path[-1]
        residuals = w * x + b - y
        path.append(path[-1] - lr * 2 * np.array([np.mean(residuals * x), np.mean(residuals)]))
    return np.array(path)


def _runs(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        n = int(rng.integers(1, 30))
        x = rng.uniform(-2, 2, n) + rng.uniform(-1, 2)
        y = rng.uniform(-3, 3) * x + rng.uniform(-2, 2) + rng.normal(0, 0.3, n)
        # the edge of stability of this fit: 2 over the largest eigenvalue of its Hessian
        hessian = 2 * np.array([[np.mean(x * x), np.mean(x)], [np.mean(x), 1.0]])
        edge = 2 / float(np.linalg.eigvalsh(hessian)[-1])
        # mostly stable rates, from crawling to zig-zagging; one in four past the edge
        lr = edge * float(rng.uniform(1.05, 1.4) if i % 4 == 3 else 10 ** rng.uniform(-2.5, -0.02))
        start = rng.uniform(-3, 3, 2)
        return (x, y, _line_path(x, y, lr, start, int(rng.integers(1, 25))))
    return draw(8, case)


def _score_tables(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        noise_sd = float(10 ** rng.uniform(-2.7, -1.3))
        k = int(rng.integers(2, 13))
        if i % 3 == 0:  # equally good settings, up to a large search
            scores = [float(rng.uniform(0.5, 0.99))] * (k if i < 6 else int(rng.integers(20, 50)))
        else:  # a leader, a contender within two noise widths, and some far behind
            leader = float(rng.uniform(0.6, 0.99))
            contender = leader - noise_sd * float(rng.uniform(0, 2))
            scores = [leader, contender, *(float(s) for s in rng.uniform(0.5, leader, k - 2))]
            scores = [scores[j] for j in rng.permutation(k)]
        return (scores, noise_sd)
    # nobody to beat; last, so that no answer of a public case lines up with it
    return draw(9, case) + [([float(rng.uniform(0.5, 0.99))], float(rng.uniform(0.005, 0.05)))]


EXERCISE = Exercise(
    slug="01_parameters_vs_hyperparameters",
    title="Parameters and hyperparameters",
    written=(Question("optimism_of_the_grid", points=2),),  # the Try-it question, graded by hand
    tasks=(
        Task(
            name="count_dense_params",
            points=2,
            level="warm-up",
            public=(
                Case(([64, 32, 10],), 2410),
                Case(([1, 1],), 2),
                Case(([3, 5, 2],), 32),
                Case(([7],), 0),
            ),
            hidden=_layer_sizes,
            compare=exact_int(),
            hint="See 'Counting the parameters of a real network' in chapter 1: each Dense layer "
                 "adds a kernel and a bias, sized by the layer before it and its own units. "
                 "Return an int.",
        ),
        Task(
            name="learning_rate_from_run",
            points=4,
            level="core",
            public=(
                Case((LINE_X, LINE_Y, np.array([[0.0, 0.0], [0.85, 0.4]])), 0.05),
                Case((np.array([1.0]), np.array([2.0]), np.array([[0.0, 0.0], [0.4, 0.4], [0.64, 0.64]])),
                     0.1),
                # past the edge (0.5 here): the run diverges, the rate is still readable
                Case((np.array([1.0]), np.array([0.0]), _line_path(np.array([1.0]), np.array([0.0]), 0.6,
                                                                  np.array([1.0, 0.0]), 3)), 0.6),
            ),
            hidden=_runs,
            compare=close(rtol=1e-8, atol=0),
            hint="See 'A line, fitted by gradient descent' in chapter 1: each step moves (w, b) by "
                 "the rate times the gradient at the point it started from, and the data give you "
                 "that gradient. One step is enough in exact arithmetic; combining all of them is "
                 "safer, since some gradients may be tiny.",
        ),
        Task(
            name="winner_optimism",
            points=4,
            level="stretch",
            public=(
                Case(([0.9], 0.01), 0.0),
                Case(([0.9, 0.9], 0.01), 0.01 / SQRT_PI),
                Case(([0.7, 0.7, 0.7], 1.0), 1.5 / SQRT_PI),
                Case(([0.9, 0.5], 0.01), 0.0),  # the winner is never in doubt
                Case(([0.9, 0.89, 0.5], 0.01), 0.004393912894677221),
            ),
            hidden=_score_tables,
            compare=close(rtol=1e-6, atol=1e-12),
            hint="See 'Choosing hyperparameters: the outer loop' in chapter 1. Split the "
                 "expectation by which setting wins: setting i wins with noise z when every other "
                 "measured score lies below q_i + sigma z, which has a probability you can write "
                 "with the normal CDF. That leaves a one-dimensional integral over z.",
        ),
    ),
)
