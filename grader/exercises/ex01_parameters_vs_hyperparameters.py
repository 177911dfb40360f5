"""Exercise 01: parameters vs hyperparameters."""

import numpy as np

from grader.compare import close, exact_int
from grader.spec import Case, Exercise, Task


def _layer_sizes(rng: np.random.Generator) -> list[tuple]:
    cases = [([int(rng.integers(1, 50))],)]  # one size: no layer, no parameters
    for _ in range(7):
        depth = int(rng.integers(2, 6))
        cases.append(([int(n) for n in rng.integers(1, 300, size=depth)],))
    return cases


def _line_data(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(8):
        n = int(rng.integers(1, 30))
        x = rng.uniform(-2, 2, n)
        y = rng.uniform(-3, 3) * x + rng.uniform(-2, 2) + rng.normal(0, 0.3, n)
        lr = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.2))))
        epochs = 0 if i == 0 else int(rng.integers(1, 150))
        cases.append((x, y, lr, epochs))
    return cases


EXERCISE = Exercise(
    slug="01_parameters_vs_hyperparameters",
    title="Parameters and hyperparameters",
    tasks=(
        Task(
            name="count_dense_params",
            points=4,
            public=(
                Case(([64, 32, 10],), 2410),
                Case(([1, 1],), 2),
                Case(([3, 5, 2],), 32),
                Case(([7],), 0),
            ),
            hidden=_layer_sizes,
            compare=exact_int(),
            hint="A Dense layer from n_in to n_out has n_in * n_out weights plus n_out biases; "
                 "add that up over consecutive pairs of sizes, and return an int.",
        ),
        Task(
            name="fit_line_gd",
            points=6,
            public=(
                Case((np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 3.0, 5.0, 7.0]), 0.05, 1), (0.85, 0.4)),
                Case((np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 3.0, 5.0, 7.0]), 0.05, 0), (0.0, 0.0)),
                Case((np.array([1.0]), np.array([2.0]), 0.1, 3), (0.784, 0.784)),
                Case((np.array([-1.0, 0.5, 2.0]), np.array([0.0, 1.0, -1.0]), 0.2, 10),
                     (-0.3295669762, 0.1591340036)),
                Case((np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 3.0, 5.0, 7.0]), 0.05, 500),
                     (2.0000000067412476, 0.9999999856071559)),
            ),
            hidden=_line_data,
            compare=close(rtol=1e-6, atol=1e-9),
            hint="Start from w = b = 0. In every epoch compute both gradients from the same residuals "
                 "r = w*x + b - y (dL/dw = 2*mean(r*x), dL/db = 2*mean(r)), then update w and b together.",
        ),
    ),
)
