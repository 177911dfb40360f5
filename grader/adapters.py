"""Sources of `call` adapters that several exercise specs share (see Task.call in grader.spec).

They run inside the learner's kernel, where the harness provides `np`; each spec appends its own
`def call(fn, ...)` that uses them.
"""

# A step function is only right if it is right step after step, with its own state fed back.
# `_run` calls `step(w, g, state, t)` for `steps` steps on the gradient of the quadratic
# L(w) = 1/2 sum h (w - target)^2, that is g = h * (w - target), feeding back the returned
# state (and t = t0, t0 + 1, ...), and returns every step's outputs as arrays with one row per
# step: (weights, state 1, state 2, ...). It also holds the learner to the contract: the inputs
# are never changed in place, and the result is a tuple (new w, new state...) of arrays shaped
# like w.
RUN_STEPS = '''
def _run(step, h, target, w, state, steps, t0, names):
    h, target = np.asarray(h, dtype=float), np.asarray(target, dtype=float)
    w = np.array(w, dtype=float)
    state = [np.array(s, dtype=float) for s in state]
    rows = [[] for _ in range(1 + len(state))]
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
'''
