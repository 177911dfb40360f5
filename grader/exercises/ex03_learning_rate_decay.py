"""Exercise 03: learning-rate decay."""

from typing import Any

import numpy as np

from grader.compare import Verdict, close
from grader.spec import Case, Exercise, Task

# The learner's function returns a Keras schedule object, which cannot cross the wire: the
# adapter evaluates it at the case's steps, and evaluates the learner's own exponential_decay at
# the same steps, so that the grader can check them against the reference and against each other.
EVALUATE_SCHEDULE = '''
def call(fn, lr0, k, decay_steps, steps):
    import keras
    schedule = fn(lr0, k, decay_steps)
    if not isinstance(schedule, keras.optimizers.schedules.ExponentialDecay):
        raise TypeError(f"expected an ExponentialDecay object, got {type(schedule).__name__}")
    own = notebook.get("exponential_decay")
    try:
        numpy_values = [float(own(lr0, k, step)) for step in steps] if callable(own) else None
    except NotImplementedError:
        numpy_values = "not written"
    return {
        "keras": [float(schedule(step)) for step in steps],
        "numpy": numpy_values,
        "staircase": bool(schedule.staircase),
        "decay_steps": int(schedule.decay_steps),
    }
'''

FLOAT32 = close(rtol=1e-5, atol=1e-12)


def schedule_matches(got: Any, expected: Any, args: tuple) -> Verdict:
    if not isinstance(got, dict) or not {"keras", "numpy", "staircase", "decay_steps"} <= set(got):
        return Verdict(False, "the schedule could not be evaluated")
    if got["staircase"]:
        return Verdict(False, "staircase=True: the schedule must be smooth")
    if got["decay_steps"] != expected["decay_steps"]:
        return Verdict(False, "decay_steps is not the one given")
    verdict = FLOAT32(got["keras"], expected["keras"], args)
    if not verdict.ok:
        return Verdict(False, f"the schedule's values are wrong: {verdict.why}")
    if got["numpy"] is None:
        return Verdict(False, "there is no exponential_decay function in the notebook to compare with")
    if got["numpy"] == "not written":
        return Verdict(False, "the schedule is right, but your exponential_decay, which it is "
                              "compared with, is not written yet")
    agree = FLOAT32(got["numpy"], got["keras"], args)
    if not agree.ok:
        return Verdict(False, f"your schedule and your exponential_decay disagree: {agree.why}")
    return Verdict(True)


def _rates(rng: np.random.Generator) -> tuple[float, float]:
    return float(10 ** rng.uniform(-3, 0)), float(10 ** rng.uniform(-4, -1))


def _step_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(8):
        lr0 = float(10 ** rng.uniform(-3, 0))
        drop = float(rng.choice([0.1, 0.5, rng.uniform(0.2, 0.95)]))
        epochs_drop = int(rng.integers(1, 25))
        # some epochs exactly on a boundary, where an off-by-one shows
        epoch = int(epochs_drop * rng.integers(0, 6)) if i % 2 else int(rng.integers(0, 120))
        cases.append((lr0, drop, epochs_drop, epoch))
    return cases


def _time_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(8):
        lr0, k = _rates(rng)
        if i % 3 == 0:
            t = rng.integers(0, 5000, size=int(rng.integers(1, 20)))
        else:
            t = int(rng.integers(0, 5000))
        cases.append((lr0, k, t))
    return cases


def _keras_rate_cases(rng: np.random.Generator) -> list[tuple]:
    return [(float(10 ** rng.uniform(-5, -1)), int(rng.integers(1, 5000))) for _ in range(8)]


def _schedule_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for _ in range(4):
        lr0, k = _rates(rng)
        decay_steps = int(rng.integers(1, 2000))
        steps = sorted(int(s) for s in rng.integers(0, 5000, size=12))
        cases.append((lr0, k, decay_steps, steps))
    return cases


EXERCISE = Exercise(
    slug="03_learning_rate_decay",
    title="Learning-rate decay",
    tasks=(
        Task(
            name="step_decay",
            points=2,
            public=(
                Case((0.1, 0.5, 5, 0), 0.1),
                Case((0.1, 0.5, 5, 4), 0.1),
                Case((0.1, 0.5, 5, 5), 0.05),
                Case((0.1, 0.5, 5, 12), 0.025),
                Case((0.1, 0.1, 20, 40), 0.001),
            ),
            hidden=_step_cases,
            compare=close(rtol=1e-9),
            hint="Count whole periods with integer division, epoch // epochs_drop, then multiply "
                 "lr0 by drop that many times: the first drop is at epoch epochs_drop, not before.",
        ),
        Task(
            name="exponential_decay",
            points=2,
            public=(
                Case((0.1, 0.002, 0), 0.1),
                Case((0.1, 0.002, 1000), 0.013533528323661271),
                Case((0.5, 0.01, np.array([0, 7, 50, 123])),
                     np.array([0.5, 0.4661969099529741, 0.3032653298563167, 0.1461462888404297])),
            ),
            hidden=_time_cases,
            compare=close(rtol=1e-9),
            hint="lr0 * np.exp(-k * t) works for numbers and arrays alike; return a plain float "
                 "when t is a number.",
        ),
        Task(
            name="inverse_time_decay",
            points=2,
            public=(
                Case((0.1, 0.002, 0), 0.1),
                Case((0.1, 0.002, 500), 0.05),
                Case((1.0, 0.5, np.array([0, 2, 6])), np.array([1.0, 0.5, 0.25])),
            ),
            hidden=_time_cases,
            compare=close(rtol=1e-9),
            hint="lr0 / (1 + k * t): the rate halves when k * t = 1, at t = 1/k.",
        ),
        Task(
            name="keras_decay_rate",
            points=2,
            public=(
                Case((0.002, 250), 0.6065306597126334),
                Case((0.01, 10), 0.9048374180359595),
                Case((0.0, 100), 1.0),
            ),
            hidden=_keras_rate_cases,
            compare=close(rtol=1e-9),
            hint="rate ** (t / decay_steps) must equal exp(-k t) for every t, so rate = exp(-k * decay_steps).",
        ),
        Task(
            name="make_keras_schedule",
            points=2,
            public=(
                Case((0.1, 0.002, 250, [0, 100, 1000, 3000]),
                     {"keras": [0.1, 0.0818730753077982, 0.013533528323661271, 0.00024787521766663585],
                      "numpy": [0.1, 0.0818730753077982, 0.013533528323661271, 0.00024787521766663585],
                      "staircase": False, "decay_steps": 250}),
                Case((0.5, 0.01, 10, [0, 7, 50, 123]),
                     {"keras": [0.5, 0.4661969099529741, 0.3032653298563167, 0.1461462888404297],
                      "numpy": [0.5, 0.4661969099529741, 0.3032653298563167, 0.1461462888404297],
                      "staircase": False, "decay_steps": 10}),
            ),
            hidden=_schedule_cases,
            call=EVALUATE_SCHEDULE,
            compare=schedule_matches,
            hint="Return keras.optimizers.schedules.ExponentialDecay(lr0, decay_steps=decay_steps, "
                 "decay_rate=keras_decay_rate(k, decay_steps)), with the default staircase=False.",
        ),
    ),
)
