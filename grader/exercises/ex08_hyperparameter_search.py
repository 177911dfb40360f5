"""Exercise 08: hyperparameter search."""

import math
from typing import Any

import numpy as np

from grader.compare import Verdict
from grader.spec import Case, Exercise, Task

# A numpy Generator cannot travel as JSON: a case carries a seed, and the adapter builds the
# generator in the learner's kernel. It also holds the learner to the contract that every random
# number comes from `rng`: the same seed must give the same samples, another seed other samples.
FROM_SEED = '''
def call(fn, seed, low, high, n):
    samples = fn(np.random.default_rng(seed), low, high, n)
    again = fn(np.random.default_rng(seed), low, high, n)
    if not np.array_equal(np.asarray(samples), np.asarray(again)):
        raise AssertionError("two generators made from the same seed gave different samples; "
                             "draw every random number from rng")
    if n >= 2 and np.array_equal(np.asarray(samples),
                                 np.asarray(fn(np.random.default_rng(seed + 1), low, high, n))):
        raise AssertionError("generators made from different seeds gave the same samples; "
                             "draw every random number from rng")
    return samples
'''

KS_LEVEL = 1e-6   # a right answer fails a hidden case once in a million
KS_MIN_N = 100    # below this the test has no power; only shape and bounds are checked
N = 500           # enough to reject a plain uniform draw over a decade or more (distance > 0.25,
                  # p < 1e-30), and small enough for every case to fit the output channel


def kolmogorov_p_value(d: float, n: int) -> float:
    """P(D >= d) for the Kolmogorov-Smirnov statistic of n samples (asymptotic, with Stephens'
    small-sample correction); accurate to far better than needed at the level used here."""
    lam = (math.sqrt(n) + 0.12 + 0.11 / math.sqrt(n)) * d
    if lam < 0.2:
        return 1.0
    p = 2 * sum((-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam) for k in range(1, 101))
    return min(max(p, 0.0), 1.0)


def log_uniform_sample(got: Any, expected: Any, args: tuple) -> Verdict:
    """Samples that look log-uniform on [low, high), judged by a statistical test, never by
    comparison with the solution's own draws: any right way of using rng passes."""
    _, low, high, n = args
    if not isinstance(got, np.ndarray):
        return Verdict(False, f"expected a numpy array, got {type(got).__name__}")
    if got.shape != (n,):
        return Verdict(False, f"expected shape ({n},), got shape {got.shape}")
    if got.dtype.kind != "f":
        return Verdict(False, "expected an array of floats")
    if n == 0:
        return Verdict(True)
    if not np.all(np.isfinite(got)):
        return Verdict(False, "the samples contain nan or infinity")
    if got.min() < low * (1 - 1e-12) or got.max() > high * (1 + 1e-12) or np.any(got == high):
        return Verdict(False, "some samples lie outside [low, high)")
    if n < KS_MIN_N:
        return Verdict(True)
    if len(np.unique(got)) < 0.99 * n:
        return Verdict(False, "many samples repeat: the distribution must be continuous")
    u = np.sort((np.log(got) - math.log(low)) / (math.log(high) - math.log(low)))
    ranks = np.arange(1, n + 1) / n
    d = float(max(np.max(ranks - u), np.max(u - (ranks - 1 / n))))
    p = kolmogorov_p_value(d, n)
    if p < KS_LEVEL:
        return Verdict(False, f"the samples are not log-uniform: log(samples) fails a "
                              f"Kolmogorov-Smirnov test against a uniform distribution "
                              f"(distance {d:.3f}, p = {p:.1e}); any log-uniform draw passes, "
                              f"not only the solution's")
    return Verdict(True)


def _key(value: dict) -> list:
    return sorted((k, type(v).__name__, repr(v)) for k, v in value.items())


def same_grid(got: Any, expected: Any, args: tuple) -> Verdict:
    """The same list of dicts, in the same order; values equal and of the same type. The order
    of the keys inside a dict is not judged."""
    if not isinstance(got, list):
        return Verdict(False, f"expected a list of dicts, got {type(got).__name__}")
    if not all(isinstance(item, dict) for item in got):
        return Verdict(False, "every item of the list must be a dict")
    if len(got) != len(expected):
        plural = "s" if len(expected) != 1 else ""
        return Verdict(False, f"expected {len(expected)} combination{plural}, got {len(got)}")
    if [_key(g) for g in got] == [_key(e) for e in expected]:
        return Verdict(True)
    if all(set(g) == set(e) for g, e in zip(got, expected)) and \
            sorted(map(_key, got)) == sorted(map(_key, expected)):
        return Verdict(False, "the right combinations in the wrong order: the first name must vary "
                              "slowest and the last name fastest")
    if any(set(g) != set(e) for g, e in zip(got, expected)):
        return Verdict(False, "every dict must have exactly the names of space as its keys")
    return Verdict(False, "wrong combinations (values must be the ones in the lists, unchanged)")


def _log_uniform_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(6):
        decades = float(rng.uniform(1, 6))
        low = float(10 ** rng.uniform(-7, 1))
        seed = int(rng.integers(0, 2**31))
        n = N if i else int(rng.integers(KS_MIN_N, N))
        cases.append((seed, low, float(low * 10 ** decades), n))
    return cases


NAMES = ["learning_rate", "batch_size", "momentum", "dropout", "optimizer", "units", "epochs",
         "weight_decay", "warmup"]


def _values(rng: np.random.Generator, k: int) -> list:
    kind = int(rng.integers(0, 4))
    if kind == 0:
        return [float(v) for v in np.round(10 ** rng.uniform(-5, 0, k), 6)]
    if kind == 1:
        return [int(v) for v in rng.choice([8, 16, 32, 64, 128, 256, 512], k, replace=False)]
    if kind == 2:
        return [str(v) for v in rng.choice(["sgd", "adam", "rmsprop", "adagrad", "adamw"], k,
                                           replace=False)]
    return [bool(v) for v in [True, False][:k]] if k <= 2 else [0.0, 0.1, 0.25, 0.5][:k]


def _grid_cases(rng: np.random.Generator) -> list[tuple]:
    cases = []
    for i in range(8):
        n_keys = [0, 1, 2, 3, 3, 4, 2, 3][i]
        names = [str(v) for v in rng.choice(NAMES, n_keys, replace=False)]
        space = {name: _values(rng, int(rng.integers(1, 5))) for name in names}
        if i == 6:  # a name with no values: no combination at all
            space[names[-1]] = []
        cases.append((space,))
    return cases


EXERCISE = Exercise(
    slug="08_hyperparameter_search",
    title="Hyperparameter search",
    tasks=(
        Task(
            name="log_uniform",
            points=5,
            public=(
                Case((0, 1e-4, 1.0, N), f"{N} log-uniform samples in [0.0001, 1)"),
                Case((1, 0.001, 0.1, N), f"{N} log-uniform samples in [0.001, 0.1)"),
                Case((2, 16.0, 512.0, N), f"{N} log-uniform samples in [16, 512)"),
                Case((3, 1e-5, 1e-2, 1), "1 log-uniform sample in [1e-05, 0.01)"),
                Case((4, 0.5, 2.0, 0), "an empty array of shape (0,)"),
            ),
            hidden=_log_uniform_cases,
            call=FROM_SEED,
            compare=log_uniform_sample,
            hint="Draw u = rng.uniform(np.log(low), np.log(high), n) and return np.exp(u). "
                 "rng.uniform(low, high, n) is uniform, not log-uniform: almost all its samples "
                 "land in the top decade.",
        ),
        Task(
            name="grid",
            points=5,
            public=(
                Case(({"learning_rate": [0.01, 0.1], "batch_size": [32, 64, 128]},),
                     [{"learning_rate": 0.01, "batch_size": 32},
                      {"learning_rate": 0.01, "batch_size": 64},
                      {"learning_rate": 0.01, "batch_size": 128},
                      {"learning_rate": 0.1, "batch_size": 32},
                      {"learning_rate": 0.1, "batch_size": 64},
                      {"learning_rate": 0.1, "batch_size": 128}]),
                Case(({"optimizer": ["sgd", "adam"]},), [{"optimizer": "sgd"}, {"optimizer": "adam"}]),
                Case(({"a": [1, 2], "b": [True], "c": ["x", "y"]},),
                     [{"a": 1, "b": True, "c": "x"}, {"a": 1, "b": True, "c": "y"},
                      {"a": 2, "b": True, "c": "x"}, {"a": 2, "b": True, "c": "y"}]),
                Case(({},), [{}]),
                Case(({"learning_rate": [0.1, 1.0], "dropout": []},), []),
            ),
            hidden=_grid_cases,
            compare=same_grid,
            hint="itertools.product(*space.values()) gives the combinations in the right order "
                 "(last name fastest); zip each with the names into a dict. An empty space has one "
                 "combination, {}.",
        ),
    ),
)
