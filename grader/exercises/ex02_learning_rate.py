"""Exercise 02: the learning rate, on quadratic bowls of any shape."""

import numpy as np

from grader.casegen import draw
from grader.compare import close
from grader.spec import Case, Exercise, Question, Task

BOWL = np.array([[10.0, 0.0], [0.0, 0.5]])  # the chapter's bowl
TILTED = np.array([[2.0, 1.0], [1.0, 2.0]])  # curvatures 1 and 3, along the diagonals


def _spd(rng: np.random.Generator, d: int, flat: int = 0) -> np.ndarray:
    """A random symmetric matrix, curvatures spread over 3 decades, `flat` of them zero."""
    q, _ = np.linalg.qr(rng.normal(size=(d, d)))
    curvatures = 10 ** rng.uniform(-1.5, 1.5, d)
    curvatures[:flat] = 0.0
    return q @ np.diag(curvatures) @ q.T


def _edge(hessian) -> float:
    return 2 / float(np.max(np.linalg.eigvalsh(np.atleast_2d(hessian))))


def _hessians(rng: np.random.Generator) -> list[tuple]:
    cases = [(float(10 ** rng.uniform(-3, 3)),) for _ in range(2)]
    cases += [(_spd(rng, int(rng.integers(2, 6))),) for _ in range(4)]
    cases += [(_spd(rng, int(rng.integers(2, 5)), flat=1),) for _ in range(2)]  # a flat direction
    return cases


def _shrink_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        hessian = float(10 ** rng.uniform(-2, 2)) if i % 3 == 0 else _spd(rng, int(rng.integers(2, 5)))
        # mostly stable rates, from slow to zig-zagging; one in five past the edge
        lr = _edge(hessian) * float(rng.uniform(1.0, 1.3) if i % 5 == 4 else rng.uniform(0.02, 0.98))
        return (hessian, lr, float(10 ** rng.uniform(-9, -1)))
    return draw(10, case)


def _runs(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        d = [1, 2, 2, 3, 3, 4, 2, 1][i]
        hessian = _spd(rng, d)
        lr = _edge(hessian) * float(rng.uniform(1.02, 1.3) if i % 4 == 3 else rng.uniform(0.1, 0.95))
        w = rng.uniform(-3, 3, d)
        path = [w]
        for _ in range(d + int(rng.integers(1, 8))):
            path.append(path[-1] - lr * hessian @ path[-1])
        path = np.array(path)
        return (lr, path[:, 0] if d == 1 else path)
    return draw(8, case)


EXERCISE = Exercise(
    slug="02_learning_rate",
    title="The learning rate",
    written=(Question("rotated_bowl", points=2),),  # the Try-it question, graded by hand
    tasks=(
        Task(
            name="max_stable_lr",
            points=2,
            level="warm-up",
            public=(
                Case((2.0,), 1.0),
                Case((BOWL,), 0.2),
                Case((TILTED,), 2 / 3),
                Case((np.array([[1.0, 1.0], [1.0, 1.0]]),), 1.0),
            ),
            hidden=_hessians,
            compare=close(rtol=1e-9),
            hint="See 'A bowl with a steep side and a flat side' in chapter 2: the edge is 2 "
                 "over the steepest curvature. When the bowl is turned, the curvatures along its "
                 "own axes are the eigenvalues of H, not its entries: try [[2, 1], [1, 2]].",
        ),
        Task(
            name="steps_to_shrink",
            points=4,
            level="core",
            public=(
                Case((2.0, 0.1), 62),
                Case((BOWL, 0.19), 139),
                Case((2.0, 0.5), 1),
                Case((2.0, 1.0), float("inf")),
                Case((TILTED, 0.5, 1e-3), 10),
            ),
            hidden=_shrink_cases,
            compare=close(rtol=0, atol=1e-9),
            hint="See 'The border is exact' and 'A bowl with a steep side and a flat side' in "
                 "chapter 2. Along each axis of the bowl the distance is multiplied by "
                 "|1 - lr times that axis's curvature| per step; a start can put all its distance "
                 "on the slowest axis, so the largest of these factors decides.",
        ),
        Task(
            name="max_stable_lr_from_run",
            points=4,
            level="stretch",
            public=(
                Case((0.25, np.array([1.0, 0.5, 0.25])), 1.0),
                Case((0.1, np.array([[1.0, 4.0], [0.0, 3.8], [0.0, 3.61]])), 0.2),
                Case((1.05, np.array([1.0, -1.1, 1.21])), 1.0),
            ),
            hidden=_runs,
            compare=close(rtol=1e-6),
            hint="See 'A bowl with a steep side and a flat side' in chapter 2. Each step multiplies w by the same matrix, I - lr H. Find that matrix from the "
                 "pairs (w_t, w_t+1), for instance by least squares over all of them at once; "
                 "H follows, and then its edge of stability.",
        ),
    ),
)
