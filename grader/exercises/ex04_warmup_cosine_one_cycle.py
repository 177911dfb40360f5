"""Exercise 04: warm-up, cosine decay and the 1cycle policy, one step past the chapter."""

import math

import numpy as np

from grader.casegen import draw
from grader.compare import close
from grader.spec import Case, Exercise, Question, Task

# float64 precision: Keras computes CosineDecayRestarts in float32 (relative rounding about 1e-8),
# so a submission that only calls it cannot reach 1e-12; atol 1e-15 keeps the rates near a
# cycle's end, where 1 + cos is tiny, out of float32's reach too (initial rates are 1e-4 to 1).
FLOAT64 = close(rtol=1e-12, atol=1e-15)


def _cosine_inverse_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        peak = float(10 ** rng.uniform(-3, 0))
        warmup = float(rng.choice([0.0, float(rng.integers(1, 2000))]))
        decay = float(rng.integers(10, 10000))
        floor = 0.0 if i % 2 else float(rng.uniform(0, 0.5))
        where = [1.0, 0.0][i] if i < 2 else float(rng.uniform(0, 1))  # the two ends, then inside
        rate = peak if where == 1.0 else floor * peak + where * (peak - floor * peak)
        return (rate, peak, warmup, decay, floor)
    return draw(8, case)


def _cycle_ends(first_decay_steps: int, t_mul: float, count: int) -> list[float]:
    """Where the first `count` cycles end: D, D + D t_mul, ... (the contract's definition)."""
    ends, end, length = [], 0.0, float(first_decay_steps)
    for _ in range(count):
        end += length
        ends.append(end)
        length *= t_mul
    return ends


def _t_mul(rng: np.random.Generator) -> float:
    return float(rng.choice([1.0, 2.0, 3.0, 1.5, round(float(rng.uniform(1.05, 3)), 3)]))


def _restart_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        first = int(rng.integers(1, 300))
        t_mul = _t_mul(rng)
        m_mul = float(rng.choice([1.0, rng.uniform(0.3, 1.0)]))
        alpha = float(rng.choice([0.0, rng.uniform(0, 0.5)]))
        lr0 = float(10 ** rng.uniform(-4, 0))
        if i % 2:
            step = int(rng.integers(0, 20000))
            if t_mul != 1.0 and step in _cycle_ends(first, t_mul, 60):
                step += 1  # never exactly on a restart, where Keras's rounding decides (see the task)
        else:  # beside a restart: the last step of a cycle or the one after the first of the next
            end = _cycle_ends(first, t_mul, int(rng.integers(1, 6)))[-1]
            whole = abs(end - round(end)) < 1e-9
            start = round(end) if whole else math.ceil(end)
            step = start - 1 if i % 4 == 0 else start + (1 if whole and t_mul != 1.0 else 0)
        return (step, lr0, first, t_mul, m_mul, alpha)
    return draw(16, case)


def _snapshot_cases(rng: np.random.Generator) -> list[tuple]:
    def case(i: int) -> tuple:
        first = int(rng.integers(1, 300))
        t_mul = _t_mul(rng)
        ends = _cycle_ends(first, t_mul, int(rng.integers(1, 7)))
        total = math.ceil(ends[-1]) + [-1, 0, 1, int(rng.integers(2, 500))][i % 4]
        if i == 9:
            total = int(rng.integers(1, first))  # shorter than the first cycle
        return (first, t_mul, max(1, total))
    return draw(10, case)


def _budget_cases(rng: np.random.Generator) -> list[tuple]:
    def case(_: int) -> tuple:
        return (float(10 ** rng.uniform(-3, 0)), int(rng.integers(10, 3000)),
                float(rng.uniform(0.1, 0.5)), float(rng.choice([25.0, 10.0, rng.uniform(1, 50)])),
                float(rng.choice([1e4, 100.0, 10 ** rng.uniform(0, 5)])))
    return draw(8, case)


EXERCISE = Exercise(
    slug="04_warmup_cosine_one_cycle",
    title="Warm-up, cosine decay and the 1cycle policy",
    written=(Question("sgdr_against_keras", points=2),),  # the Try-it question, graded by hand
    hidden_modules=("keras", "tensorflow"),
    tasks=(
        Task(
            name="cosine_time_to_rate",
            points=2,
            level="warm-up",
            public=(
                Case((0.25, 0.5, 100.0, 900.0), 550.0),
                Case((0.5, 0.5, 100.0, 900.0), 100.0),
                Case((0.005, 0.5, 100.0, 900.0, 0.01), 1000.0),
            ),
            hidden=_cosine_inverse_cases,
            compare=close(rtol=1e-6, atol=1e-6),
            hint="See 'Warm-up, then cosine decay' in chapter 4. After the warm-up the rate is "
                 "the floor plus the share (1 + cos(pi s / D)) / 2 of the distance from the floor "
                 "to the peak, with s = t - W. Solve that for s: the inverse of cos is arccos.",
        ),
        Task(
            name="cosine_decay_restarts",
            points=4,
            level="core",
            public=(
                Case((0, 0.1, 100), 0.1),
                Case((50, 0.1, 100), 0.05),
                Case((99, 0.1, 100), 2.467198171342e-05),
                Case((101, 0.1, 100), 0.09999383162408304),
                Case((150, 0.1, 100, 2.0, 0.5, 0.1), 0.04840990257669732),
                Case((301, 0.1, 100, 2.0, 0.5, 0.1), 0.03249965302350388),
                Case((250, 0.01, 100, 1.0, 0.9, 0.0), 0.004050000000000001),
            ),
            hidden=_restart_cases,
            compare=FLOAT64,
            hint="See 'Warm-up, then cosine decay' in chapter 4 and the documentation of "
                 "CosineDecayRestarts. Find the cycle i that holds the step: cycle lengths are "
                 "first_decay_steps times t_mul to the power i, so cycle starts are sums of a "
                 "geometric series. Inside it, the cosine falls from 1 to 0 over the cycle's "
                 "length; m_mul to the power i scales that cosine, and alpha, a fraction of the "
                 "initial rate, is added unscaled. Keep every number in float64.",
        ),
        Task(
            name="snapshot_steps",
            points=2,
            level="core",
            public=(
                Case((100, 2.0, 700), [99, 299, 699]),
                Case((100, 2.0, 699), [99, 299]),
                Case((10, 1.0, 35), [9, 19, 29]),
                Case((5, 1.5, 30), [4, 12, 23]),
                Case((50, 2.0, 40), []),
            ),
            hidden=_snapshot_cases,
            compare=close(rtol=0, atol=1e-9),
            hint="See 'Warm-up, then cosine decay' in chapter 4 and the SGDR task above. Add up the cycle lengths one by one (each t_mul times "
                 "the one before) while the sum stays within total_steps; a cycle that ends at "
                 "the real number e has its last step at the largest whole number below e.",
        ),
        Task(
            name="one_cycle_peak_for_budget",
            points=2,
            level="stretch",
            public=(
                Case((0.1, 430), 0.19805167813101857),
                Case((0.05, 1000, 0.25, 10.0, 100.0), 0.09693679720822025),
                Case((1.0, 10, 0.5, 1.0, 1.0), 1.0),
            ),
            hidden=_budget_cases,
            compare=close(rtol=1e-9),
            hint="See 'The 1cycle policy' in chapter 4. The low and end rates are max_lr / div "
                 "and max_lr / div_final, so every rate of the schedule is max_lr times a number "
                 "that does not depend on max_lr. What does that make the sum of the rates?",
        ),
    ),
)
