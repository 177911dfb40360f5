"""Adapters: how a task whose arguments are not plain data calls the learner's function.

Most tasks call ``fn(*args)``. A task that needs more (several consecutive optimizer steps with
the state fed back, say) names one of the functions below in its spec (``Task.call``), and the
harness calls ``adapter(fn, *args)`` instead. They run where the learner's function runs (in
check() and in the grading kernel), so, like the rest of grader.inkernel, they import only the
standard library and numpy, and they only produce a value: the verdict is reached on the host.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

Adapter = Callable[..., Any]
ADAPTERS: dict[str, Adapter] = {}


def adapter(function: Adapter) -> Adapter:
    """Register *function* under its name, the name a spec's `Task.call` gives."""
    ADAPTERS[function.__name__] = function
    return function


def run_steps(step: Callable[..., Any], h: Any, target: Any, w: Any, state: Sequence[Any], steps: int,
              t0: int, names: Sequence[str]) -> tuple[np.ndarray, ...]:
    """Every step's outputs of *step*, run *steps* times with its own state fed back.

    A step function is only right if it is right step after step. `run_steps` calls
    ``step(w, g, state, t)`` on the gradient of the quadratic L(w) = 1/2 sum h (w - target)^2,
    that is g = h * (w - target), with t = t0, t0 + 1, ..., and returns one array per output
    (the weights, then each state) with one row per step. It also holds the learner to the
    contract: the inputs are never changed in place, and the result is a tuple (new w, new
    state...) of arrays shaped like w."""
    h, target = np.asarray(h, dtype=float), np.asarray(target, dtype=float)
    w = np.array(w, dtype=float)
    state = [np.array(s, dtype=float) for s in state]
    rows: list[list[np.ndarray]] = [[] for _ in range(1 + len(state))]
    for i in range(steps):
        t = t0 + i
        g = h * (w - target)
        inputs = [("w", w), ("g", g)] + list(zip(names, state))
        copies = [a.copy() for _, a in inputs]
        result = step(w, g, state, t)
        for (name, array), copy in zip(inputs, copies):
            if not np.array_equal(array, copy):
                raise AssertionError(f"the argument {name} was changed in place (step {i + 1}); "
                                     "return new arrays and leave the inputs alone")
        if not isinstance(result, (tuple, list)) or len(result) != 1 + len(state):
            raise TypeError(f"return a tuple of {1 + len(state)}: the new w, then the new "
                            + " and the new ".join(names))
        new = [np.array(r, dtype=float) for r in result]
        for name, array in zip(["w"] + list(names), new):
            if array.shape != w.shape:
                raise ValueError(f"the new {name} has shape {array.shape}; expected {w.shape}, "
                                 "the shape of w")
        for row, array in zip(rows, new):
            row.append(array)
        w, state = new[0], new[1:]
    return tuple(np.array(row) for row in rows)


@adapter
def amsgrad_steps(fn: Callable[..., Any], h: Any, target: Any, w: Any, m: Any, v: Any, v_hat: Any, t0: int,
                  lr: float, beta_1: float, beta_2: float, epsilon: float, steps: int) -> tuple[np.ndarray, ...]:
    """`amsgrad_step(w, g, m, v, v_hat, t, lr, beta_1, beta_2, epsilon)`, *steps* times."""
    return run_steps(lambda w, g, s, t: fn(w, g, s[0], s[1], s[2], t, lr, beta_1, beta_2, epsilon),
                     h, target, w, [m, v, v_hat], steps, t0, ["m", "v", "v_hat"])


@adapter
def adamw_steps(fn: Callable[..., Any], h: Any, target: Any, w: Any, m: Any, v: Any, t0: int, lr: float,
                beta_1: float, beta_2: float, epsilon: float, weight_decay: float,
                steps: int) -> tuple[np.ndarray, ...]:
    """`adamw_step(w, g, m, v, t, lr, beta_1, beta_2, epsilon, weight_decay)`, *steps* times."""
    return run_steps(lambda w, g, s, t: fn(w, g, s[0], s[1], t, lr, beta_1, beta_2, epsilon, weight_decay),
                     h, target, w, [m, v], steps, t0, ["m", "v"])
