"""Exercise 04: warm-up, cosine decay and the 1cycle policy."""

import numpy as np

from grader.compare import Verdict, close
from grader.spec import Case, Exercise, Task

# The learner's class is a Keras schedule; the adapter builds it and evaluates it where Keras
# does, inside a compiled function with a tensor step, and returns plain floats.
EVALUATE_IN_TF_FUNCTION = '''
def call(fn, max_lr, total_steps, pct_start, div, final_div, steps):
    import keras
    import tensorflow as tf
    schedule = fn(max_lr, total_steps, pct_start, div, final_div)
    if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        raise TypeError(f"expected a LearningRateSchedule, got {type(schedule).__name__}")
    config = schedule.get_config()
    compiled = tf.function(lambda step: schedule(step), autograph=False)  # as graph ops, no `if`
    return {
        "rates": [float(compiled(tf.constant(step, dtype=tf.int64))) for step in steps],
        "config": sorted(config) if isinstance(config, dict) else None,
    }
'''

LR_FLOAT64 = close(rtol=1e-9, atol=1e-15)
FLOAT32 = close(rtol=1e-5, atol=1e-9)
CONFIG_KEYS = ["div", "final_div", "max_lr", "pct_start", "total_steps"]


def _cycle_args(rng: np.random.Generator) -> tuple:
    total = int(rng.integers(10, 3000))
    pct = float(rng.uniform(0.1, 0.5))
    return (float(10 ** rng.uniform(-3, 0.5)), total, pct, float(rng.choice([10.0, 25.0, rng.uniform(5, 50)])),
            float(rng.choice([1e4, 100.0, 10 ** rng.uniform(2, 5)])))


def _one_cycle_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(10):
        max_lr, total, pct, div, final_div = _cycle_args(rng)
        warm = pct * total
        # the borders are where a contract is easiest to get wrong
        step = [0, int(np.ceil(warm)), int(np.floor(warm)), total - 1, total + 7][i] if i < 5 \
            else int(rng.integers(0, total))
        cases.append((step, total, max_lr, pct, div, final_div))
    return cases


def _range_tests(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(8):
        n = int(rng.integers(1, 150))
        lrs = np.geomspace(10 ** rng.uniform(-6, -3), 10 ** rng.uniform(-0.5, 1.5), n)
        x = np.log10(lrs)
        centre = rng.uniform(x.min(), x.max()) if n > 1 else x[0]
        losses = 2.3 - 1.5 / (1 + np.exp(-4 * (x - centre + 1))) + np.maximum(0, x - centre) ** 2 * 5
        losses = losses + rng.normal(0, rng.uniform(0, 0.4), n)
        if n > 3 and i % 3 == 0:  # a blow-up at the end
            losses[-int(rng.integers(1, 3)):] = [np.nan, np.inf][int(rng.integers(0, 2))]
        beta = 0.98 if i % 2 == 0 else float(rng.uniform(0.0, 0.99))
        cases.append(([float(v) for v in lrs], [float(v) for v in losses], beta))
    return cases


def _schedule_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(4):
        max_lr, total, pct, div, final_div = _cycle_args(rng)
        steps = sorted({0, total - 1, total + 3, *(int(s) for s in rng.integers(0, total, 12))})
        cases.append((max_lr, total, pct, div, final_div, steps))
    return cases


def rates_match(got, expected, args) -> Verdict:
    if not isinstance(got, dict) or "rates" not in got:
        return Verdict(False, "the schedule could not be evaluated")
    if got.get("config") != CONFIG_KEYS:
        return Verdict(False, "get_config() must return a dict with exactly the five arguments "
                              "max_lr, total_steps, pct_start, div and final_div")
    verdict = FLOAT32(got["rates"], expected["rates"], args)
    return verdict if verdict.ok else Verdict(False, f"wrong rates: {verdict.why}")


EXERCISE = Exercise(
    slug="04_warmup_cosine_one_cycle",
    title="Warm-up, cosine decay and the 1cycle policy",
    tasks=(
        Task(
            name="one_cycle_lr",
            points=4,
            public=(
                Case((0, 100, 1.0), 0.04),
                Case((15, 100, 1.0), 0.52),
                Case((30, 100, 1.0), 1.0),
                Case((50, 100, 1.0), 0.806652711804344),
                Case((99, 100, 1.0), 0.0001),
                Case((150, 100, 1.0), 0.0001),
                Case((10, 40, 0.1, 0.25, 10.0, 100.0), 0.1),
                Case((20, 40, 0.1, 0.25, 10.0, 100.0), 0.07368621781463962),
            ),
            hidden=_one_cycle_cases,
            compare=LR_FLOAT64,
            hint="Warm-up while step < pct_start * total_steps (a float); after it, "
                 "p = min((step - W) / (total_steps - 1 - W), 1) so that the last step, total_steps - 1, "
                 "is exactly max_lr / final_div.",
        ),
        Task(
            name="lr_from_range_test",
            points=3,
            public=(
                Case(([0.001, 0.01, 0.1, 1.0], [2.0, 1.5, 1.0, 3.0]), 0.01),
                Case(([0.1, 1.0, 10.0], [1.0, 0.5, float("nan")]), 0.1),
                Case(([0.5], [1.0]), 0.05),
                Case((list(np.geomspace(1e-3, 10, 10)), [2.3, 2.2, 2.0, 1.6, 1.1, 0.9, 0.8, 0.85, 1.5, 4.0]),
                     0.12915496650148828),
                Case(([0.001, 0.01, 0.1, 1.0], [2.0, 1.5, 1.0, 3.0], 0.0), 0.01),
            ),
            hidden=_range_tests,
            compare=LR_FLOAT64,
            hint="Replace nan and inf by +inf, then a = beta * a + (1 - beta) * loss from a = 0, divided by "
                 "1 - beta ** (i + 1) for the i-th loss (from 0); return lrs[argmin] / 10.",
        ),
        Task(
            name="OneCycleSchedule",
            points=3,
            public=(
                Case((1.0, 100, 0.3, 25.0, 1e4, [0, 15, 30, 50, 99, 150]),
                     {"rates": [0.04, 0.52, 1.0, 0.806652711804344, 0.0001, 0.0001], "config": CONFIG_KEYS}),
                Case((0.1, 40, 0.25, 10.0, 100.0, [0, 5, 10, 20, 39]),
                     {"rates": [0.01, 0.055, 0.1, 0.07368621781463962, 0.001], "config": CONFIG_KEYS}),
            ),
            hidden=_schedule_cases,
            call=EVALUATE_IN_TF_FUNCTION,
            compare=rates_match,
            hint="Inside __call__, compute both branches as tensors and pick with "
                 "keras.ops.where(step < warm, rising, falling); a Python `if` on a tensor fails in tf.function.",
        ),
    ),
)
