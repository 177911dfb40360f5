"""Exercise 6's named tasks against the real Keras objects, through the grader.

`amsgrad_step` and `adamw_step` claim to be `keras.optimizers.Adam(amsgrad=True)` and
`keras.optimizers.AdamW`. The grader's reference values (the solution notebook run on hidden
cases, as `grader grade` runs it) must agree with those Keras objects on the same inputs to
float32 precision; and a submission that just calls the Keras objects must score zero, since the
grader runs the exercise where Keras cannot be imported (and asks for a precision that float32
cannot reach). `which_optimizer`'s reference answers must
name the optimizer that really produced each generated log.
"""

from __future__ import annotations

import numpy as np
import nbformat
import pytest

from grader.grade import grade_batch
from grader.reference import expected_values
from grader.spec import draw_cases
from grader.kernel import Limits
from grader.spec import exercises
from tests.helpers import REPO, require_confinement
from tests.test_grader import rewrite_function, write

SLUG = "06_adaptive_optimizers"
SOLUTION = REPO / "solutions" / f"{SLUG}.ipynb"
SEEDS = (3, 2026)

# One step of the real Keras optimizer from a given state: build it, load the state, apply the
# gradient. Used here to check the reference values, and as the body of a submission that tries
# to pass by calling Keras (indented by the test).
KERAS_STEP = '''import keras
if weight_decay is None:
    optimizer = keras.optimizers.Adam(lr, beta_1, beta_2, epsilon, amsgrad=True)
else:
    optimizer = keras.optimizers.AdamW(lr, weight_decay, beta_1, beta_2, epsilon)
variable = keras.Variable(np.asarray(w, dtype="float32"))
optimizer.build([variable])
slots = [optimizer._momentums[0], optimizer._velocities[0]]
if weight_decay is None:
    slots.append(optimizer._velocity_hats[0])
for slot, value in zip(slots, state):
    slot.assign(np.asarray(value, dtype="float32"))
optimizer.iterations.assign(t - 1)
optimizer.apply([np.asarray(g, dtype="float32")], [variable])
return (variable.numpy().astype(float),) + tuple(slot.numpy().astype(float) for slot in slots)
'''


def _indent(source: str, indent: str) -> str:
    return "".join(indent + line + "\n" for line in source.splitlines())


namespace: dict = {"np": np}
exec("def keras_step(w, g, state, t, lr, beta_1, beta_2, epsilon, weight_decay=None):\n"
     + _indent(KERAS_STEP, "    "), namespace)
keras_step = namespace["keras_step"]


@pytest.fixture(scope="module")
def reference():
    """For each seed: the hidden cases and the solution's answers, as the grader computes them."""
    exercise = exercises()[SLUG]
    found = {}
    for seed in SEEDS:
        case_sets = draw_cases(exercise, seed)
        values = expected_values(exercise, case_sets, Limits())
        found[seed] = {cs.task.name: (cs.all_args, values[cs.task.name]) for cs in case_sets}
    return found


FLOAT32 = 2.0**-24  # float32's unit roundoff


def _keras_errors(name: str, args: tuple, expected: tuple) -> list[float]:
    """How far Keras is from the reference at every step, in units of what float32 allows.

    Keras is fed the gradient and the state the reference saw at that step, so that errors do not
    compound. The state (m, v, v_hat) must agree to a few float32 roundings of its size over the
    run. The step taken (new w minus w) must agree to a few roundings plus what rounding beta_1
    and beta_2 to float32 does to the bias correction: 1 - beta**t loses digits when beta**t is
    close to 1 (beta_2 = 0.9999 at t = 1 leaves four digits of 1 - beta_2), so the allowance
    grows with t * beta**t / (1 - beta**t)."""
    if name == "amsgrad_step":
        h, target, w, m, v, v_hat, t0, lr, beta_1, beta_2, epsilon, steps = args
        state, weight_decay = [m, v, v_hat], None
    else:
        h, target, w, m, v, t0, lr, beta_1, beta_2, epsilon, weight_decay, steps = args
        state = [m, v]
    errors = []
    for i in range(steps):
        t = t0 + i
        g = h * (w - target)
        got = keras_step(w, g, state, t, lr, beta_1, beta_2, epsilon, weight_decay)
        conditioning = sum(t * b**t / (1 - b**t) for b in (beta_1, beta_2))
        step_allowed = 16 * FLOAT32 * (1 + conditioning)
        # Keras also rounds w to float32 when it loads it and when it stores the result
        allowed = step_allowed * np.max(np.abs(expected[0][i] - w)) + 4 * FLOAT32 * np.abs(w)
        errors.append(np.max(np.abs(got[0] - expected[0][i]) / allowed))
        for keras_value, rows in zip(got[1:], expected[1:]):
            scale = np.max(np.abs(rows))
            if scale:
                errors.append(np.max(np.abs(keras_value - rows[i])) / scale / (16 * FLOAT32))
        w, state = expected[0][i], [e[i] for e in expected[1:]]  # the reference's own path
    return errors


@pytest.mark.parametrize("name", ["amsgrad_step", "adamw_step"])
def test_reference_values_agree_with_keras_to_float32_precision(reference, name):
    worst, count = 0.0, 0
    for seed in SEEDS:
        cases, values = reference[seed][name]
        assert len(cases) >= 10
        for args, expected in zip(cases, values):
            errors = _keras_errors(name, args, expected)
            count += len(errors)
            worst = max(worst, *errors)
            assert max(errors) <= 1, (name, seed, args)
    print(f"{name}: {count} comparisons, worst at {worst:.2f} of the float32 allowance")
    assert worst > 0  # Keras really ran in float32: not the reference compared with itself


def test_calling_the_keras_objects_scores_zero(tmp_path):
    require_confinement()  # bubblewrap hides the packages
    notebook = nbformat.read(SOLUTION, as_version=4)
    amsgrad = _indent("state = (m, v, v_hat)\nweight_decay = None\n" + KERAS_STEP, "{indent}")
    adamw = _indent("state = (m, v)\n" + KERAS_STEP, "{indent}")
    notebook = rewrite_function(rewrite_function(notebook, "amsgrad_step", amsgrad), "adamw_step", adamw)
    path = write(tmp_path, "calls_keras", notebook)
    [result] = grade_batch(exercises()[SLUG], [path], seed=SEEDS[0])
    scores = {task.name: task.points for task in result.tasks}
    assert scores["amsgrad_step"] == 0 and scores["adamw_step"] == 0, result
    assert scores["decay_remaining"] == 2 and scores["which_optimizer"] == 2  # the rest still ran
    reasons = " ".join(line for task in result.tasks for line in task.lines)
    assert "keras is not available while this exercise is graded" in reasons, reasons


def test_which_optimizer_reference_names_the_true_optimizer(reference):
    from grader.exercises.ex06_adaptive_optimizers import labelled_logs

    task = exercises()[SLUG].task("which_optimizer")
    for seed in SEEDS:
        cases, values = reference[seed]["which_optimizer"]
        truth = [kind for kind, _ in labelled_logs(np.random.default_rng([seed, *task.name.encode()]))]
        public = [case.expected for case in task.public]
        assert values == public + truth
        assert len(set(truth)) == 5  # every optimizer appears among the hidden logs
