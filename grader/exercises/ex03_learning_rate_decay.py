"""Exercise 03: learning-rate decay, one step past the chapter's schedules."""

import numpy as np

from grader.casegen import draw
from grader.compare import close, exact_choice
from grader.spec import Case, Exercise, Question, Task

SCHEDULE_LABELS = ("exponential", "exponential staircase", "inverse_time", "inverse_time staircase",
                   "linear")

# float64 precision: Keras keeps a learning rate in a float32 variable (relative rounding about
# 1e-8), so a submission that only drives keras.callbacks.ReduceLROnPlateau cannot reach 1e-12.
FLOAT64 = close(rtol=1e-12, atol=1e-300)


def _inverse_time_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        lr0 = float(10 ** rng.uniform(-3, 0))
        lr_end = lr0 * float(10 ** rng.uniform(-3, 0))
        decay_steps = int(rng.integers(1, 500))
        staircase = i % 2 == 1
        total_steps = decay_steps * int(rng.integers(1, 40))
        if i % 4 > 1:  # between two multiples of decay_steps, where floor and division differ
            total_steps += int(rng.integers(0, decay_steps))
        return (lr0, lr_end, decay_steps, total_steps, staircase)
    return draw(8, case)


def _schedule_log(rng: np.random.Generator, label: str) -> list[float]:
    """Exact rates at steps 0..n-1 of one Keras schedule, falling to at most half of lr0."""
    lr0 = float(10 ** rng.uniform(-3, 0))
    n = int(rng.integers(8, 80))
    staircase = label.endswith("staircase")
    block = int(rng.integers(2, max(3, n // 3))) if staircase else int(rng.integers(1, 50))
    t = np.arange(n, dtype=float)
    s = np.floor(t / block) if staircase else t / block
    end_fraction = float(rng.uniform(0.02, 0.5))      # rate at the last step over lr0, at most
    if label.startswith("exponential"):
        rate = end_fraction ** (1 / max(s[-1], 1e-9))
        values = lr0 * rate ** s
    elif label.startswith("inverse_time"):
        k = (1 / end_fraction - 1) / max(s[-1], 1e-9)
        values = lr0 / (1 + k * s)
    else:  # PolynomialDecay, power 1, still before its decay_steps: a straight line
        values = lr0 + (end_fraction - 1) * lr0 * t / (n - 1)
    return [float(v) for v in values]


def _schedule_logs(rng: np.random.Generator) -> list[tuple]:
    labels = list(SCHEDULE_LABELS) * 2
    rng.shuffle(labels)
    return [(_schedule_log(rng, label),) for label in labels]


def _plateau_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        epochs = int(rng.integers(1, 6)) if i == 0 else int(rng.integers(10, 60))
        min_delta = float(10 ** rng.uniform(-4, -1.5))
        # a loss that falls in drops of a few min_delta, some smaller than min_delta, and
        # hovers above its level in between: plateaus of every length, and near misses
        drops = np.where(rng.random(epochs) < rng.uniform(0.15, 0.5),
                         min_delta * rng.choice([0.3, 0.8, 1.5, 4.0, 20.0], epochs), 0.0)
        losses = rng.uniform(0.2, 3.0) - np.cumsum(drops) + rng.uniform(0, 2.5 * min_delta, epochs)
        lr = float(10 ** rng.uniform(-4, 0))
        factor = float(rng.choice([0.1, 0.5, rng.uniform(0.05, 0.95)]))
        patience = int(rng.integers(1, 6))
        # at most epochs / patience cuts: keep the last rate above 1e-30, where float32 (and so
        # the Keras callback the tests compare with) still has all its digits
        factor = max(factor, (1e-30 / lr) ** (patience / epochs))
        cooldown = int(rng.integers(0, 5)) if i % 3 else 0
        min_lr = [0.0, lr * factor ** int(rng.integers(1, 4)) * float(rng.uniform(0.5, 1.0)),
                  lr * float(rng.uniform(0.05, 0.9))][i % 3]
        return ([float(v) for v in losses], lr, factor, patience, min_delta, cooldown, min_lr)
    return draw(10, case)


def _rate_schedules(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        n = int(rng.integers(1, 400))
        t = np.arange(n)
        lr0 = float(rng.uniform(0.05, 1.9))
        kind = i % 4
        if kind == 0:
            rates = np.full(n, lr0)
        elif kind == 1:
            rates = lr0 * np.exp(-rng.uniform(1e-4, 0.05) * t)
        elif kind == 2:
            rates = lr0 * float(rng.uniform(0.2, 0.8)) ** (t // int(rng.integers(1, 50)))
        else:
            rates = lr0 / (1 + rng.uniform(1e-3, 0.1) * t)
        return (rates, float(rng.uniform(-10, 10)), float(10 ** rng.uniform(-2, 1)))
    return draw(8, case)


EXERCISE = Exercise(
    slug="03_learning_rate_decay",
    title="Learning-rate decay",
    written=(Question("plateau_against_keras", points=2),),  # the Try-it question, graded by hand
    hidden_modules=("keras", "tensorflow"),
    tasks=(
        Task(
            name="inverse_time_decay_rate",
            points=2,
            level="warm-up",
            public=(
                Case((1.0, 0.1, 430, 430), 9.0),
                Case((0.1, 0.05, 1, 500), 0.002),
                Case((0.1, 0.05, 100, 250, True), 0.5),
                Case((0.1, 0.05, 100, 250, False), 0.4),
            ),
            hidden=_inverse_time_cases,
            compare=close(rtol=1e-9),
            hint="See 'From formulas to Keras schedules' in chapter 3. Write the schedule's value "
                 "at total_steps, set it equal to lr_end and solve for decay_rate. With "
                 "staircase=True the step is first rounded down to a whole number of decay_steps.",
        ),
        Task(
            name="identify_schedule",
            points=2,
            level="core",
            all_or_nothing=True,
            public=(
                Case(([0.1 * 0.9 ** t for t in range(10)],), "exponential"),
                Case(([0.1 / (1 + 0.5 * (t // 3)) for t in range(12)],), "inverse_time staircase"),
                Case(([0.1 - 0.008 * t for t in range(10)],), "linear"),
            ),
            hidden=_schedule_logs,
            compare=exact_choice(SCHEDULE_LABELS),
            hint="See 'Three classic schedules' in chapter 3. Collapse runs of equal rates first "
                 "(a staircase holds each value for several steps). Then ask which quantity stays "
                 "constant from one value to the next: the ratio, the difference of the "
                 "reciprocals, or the difference itself.",
        ),
        Task(
            name="reduce_lr_on_plateau",
            points=4,
            level="core",
            public=(
                Case(([1.0, 0.9, 0.95, 0.96, 0.8], 0.1, 0.5, 2),
                     [0.1, 0.1, 0.1, 0.05, 0.05]),
                Case(([100.0, 99.995, 99.99, 99.98], 0.01, 0.1, 2), [0.01, 0.01, 0.01, 0.01]),
                Case(([0.01, 0.00995, 0.00992, 0.0098], 0.01, 0.1, 2), [0.01, 0.01, 0.001, 0.001]),
                Case(([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0], 0.1, 0.5, 1, 1e-4, 2, 0.02),
                     [0.1, 0.05, 0.05, 0.025, 0.025, 0.02, 0.02, 0.02]),
            ),
            hidden=_plateau_cases,
            compare=FLOAT64,
            hint="See 'Decay by epoch, and decay on a plateau' in chapter 3, and the callback's "
                 "documentation. In mode min an epoch improves only if its loss is below the best "
                 "so far minus min_delta (an absolute amount). A cut happens when the count of "
                 "epochs without improvement reaches patience; it resets that count and starts "
                 "the cooldown, whose epochs are not counted. A rate at min_lr is not cut again. "
                 "Keep every rate in float64.",
        ),
        Task(
            name="expected_noisy_loss",
            points=2,
            level="stretch",
            public=(
                Case((np.array([0.5]), 5.0, 1.0), np.array([3.25])),
                Case((np.array([1.0, 1.0]), 5.0, 1.0), np.array([0.5, 0.5])),
                Case((np.array([0.1, 0.2, 0.0]), 2.0, 0.5), np.array([1.62125, 1.0426, 1.0426])),
            ),
            hidden=_rate_schedules,
            compare=close(rtol=1e-9, atol=1e-300),
            hint="See 'Why decay: the noise floor' in chapter 3. Follow the mean of x squared, not "
                 "x: after one step it is (1 - rate)^2 times the old mean square plus rate^2 "
                 "sigma^2, since the noise has mean 0 and variance 1 and is independent of x.",
        ),
    ),
)
