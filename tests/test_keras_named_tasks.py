"""Tasks that mirror a Keras object (exercises 3 and 4): right as Keras is, out of Keras's reach.

- Agreement: on the grader's own hidden cases, the answers the grader takes from the solution
  notebook equal what the real Keras object gives, to float32 precision.
- Not passable by calling Keras: the grader runs these exercises where keras and tensorflow cannot
  be imported, so a submission whose function only drives the Keras object scores 0 on that task
  (and keeps the other tasks' points), even when it asks Keras for float64, which would otherwise
  be precise enough.
"""

from __future__ import annotations

import os

import nbformat
import numpy as np
import pytest

from grader import grade, reference, spec
from grader.kernel import Limits
from grader.spec import exercises
from tests.helpers import REPO, require_confinement
from tests.test_grader import rewrite_function, write

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SEEDS = (1, 2, 3)
FLOAT32 = dict(rtol=2e-6, atol=1e-12)


def solution_answers(slug: str, task_name: str, seed: int) -> list[tuple[tuple, object]]:
    """(arguments, the solution's answer) for every public and hidden case, as the grader gets them."""
    exercise = exercises()[slug]
    case_sets = spec.draw_cases(exercise, seed)
    expected = reference.expected_values(exercise, case_sets, Limits())
    [case_set] = [c for c in case_sets if c.task.name == task_name]
    return list(zip(case_set.all_args, expected[task_name]))


def keras_plateau_rates(val_losses, lr, factor=0.1, patience=10, min_delta=1e-4, cooldown=0, min_lr=0.0):
    """What keras.callbacks.ReduceLROnPlateau sets, epoch after epoch, on an optimizer at lr."""
    import keras

    callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", mode="min", factor=factor,
                                                 patience=patience, min_delta=min_delta,
                                                 cooldown=cooldown, min_lr=min_lr)
    optimizer = keras.optimizers.SGD(learning_rate=lr)
    callback.set_model(keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)]))
    callback.model.optimizer = optimizer
    callback.on_train_begin()
    rates = []
    for epoch, loss in enumerate(val_losses):
        callback.on_epoch_end(epoch, {"val_loss": loss})
        rates.append(float(optimizer.learning_rate))
    return rates


def relative_gap(ours, theirs) -> float:
    ours, theirs = np.asarray(ours, dtype=float), np.asarray(theirs, dtype=float)
    return float(np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-12)))


@pytest.mark.parametrize("seed", SEEDS)
def test_reduce_lr_on_plateau_agrees_with_keras_through_the_grader(seed):
    answers = solution_answers("03_learning_rate_decay", "reduce_lr_on_plateau", seed)
    assert len(answers) >= 12
    cuts = 0
    for args, ours in answers:
        theirs = keras_plateau_rates(*args)
        assert np.allclose(ours, theirs, **FLOAT32), (args, ours, theirs, relative_gap(ours, theirs))
        cuts += int(np.sum(np.diff(theirs) < 0))
    assert cuts >= 10  # the cases exercise the callback, not only a constant rate


@pytest.mark.parametrize("seed", SEEDS)
def test_cosine_decay_restarts_agrees_with_keras_through_the_grader(seed):
    import keras

    answers = solution_answers("04_warmup_cosine_one_cycle", "cosine_decay_restarts", seed)
    assert len(answers) >= 20
    for (step, lr0, first, *rest), ours in answers:
        theirs = float(keras.optimizers.schedules.CosineDecayRestarts(lr0, first, *rest)(step))
        # float32 precision, on the schedule's scale: Keras divides step / first_decay_steps in
        # float32 and keeps only the fraction of the cycle, which loses digits as the step
        # grows (a relative 6e-8 of step / first_decay_steps, times pi / 2 for the cosine)
        tolerance = 5e-7 * lr0 * (1 + step / first)
        assert abs(ours - theirs) <= tolerance, ((step, lr0, first, *rest), ours, theirs)


# A learner's shortcut: build the Keras object and read its values.
KERAS_PLATEAU_BODY = '''{indent}optimizer = keras.optimizers.SGD(learning_rate=lr)
{indent}callback = keras.callbacks.ReduceLROnPlateau(monitor="val_loss", mode="min", factor=factor,
{indent}    patience=patience, min_delta=min_delta, cooldown=cooldown, min_lr=min_lr)
{indent}callback.set_model(keras.Sequential([keras.Input(shape=(1,)), keras.layers.Dense(1)]))
{indent}callback.model.optimizer = optimizer
{indent}callback.on_train_begin()
{indent}rates = []
{indent}for epoch, loss in enumerate(val_losses):
{indent}    callback.on_epoch_end(epoch, {{"val_loss": loss}})
{indent}    rates.append(float(optimizer.learning_rate))
{indent}return rates
'''

KERAS_RESTARTS_BODY = '''{indent}schedule = keras.optimizers.schedules.CosineDecayRestarts(
{indent}    initial_learning_rate, first_decay_steps, t_mul=t_mul, m_mul=m_mul, alpha=alpha)
{indent}return float(schedule(step))
'''

# The same, in float64: as precise as the grader asks, and so stopped only by hiding Keras.
KERAS_RESTARTS_FLOAT64_BODY = '''{indent}import keras
{indent}keras.config.set_floatx("float64")
{indent}schedule = keras.optimizers.schedules.CosineDecayRestarts(
{indent}    np.float64(initial_learning_rate), np.float64(first_decay_steps),
{indent}    t_mul=np.float64(t_mul), m_mul=np.float64(m_mul), alpha=np.float64(alpha))
{indent}return float(schedule(np.float64(step)))
'''

SHORTCUTS = {
    ("03_learning_rate_decay", "reduce_lr_on_plateau", "keras_plateau"): KERAS_PLATEAU_BODY,
    ("04_warmup_cosine_one_cycle", "cosine_decay_restarts", "keras_restarts"): KERAS_RESTARTS_BODY,
    ("04_warmup_cosine_one_cycle", "cosine_decay_restarts", "keras_restarts_float64"): KERAS_RESTARTS_FLOAT64_BODY,
}


def test_float64_keras_would_be_precise_enough():
    """Why precision alone cannot stop the shortcut: Keras asked for float64 passes every public case."""
    import keras

    task = exercises()["04_warmup_cosine_one_cycle"].task("cosine_decay_restarts")
    namespace = {"np": np, "keras": keras}
    exec("def shortcut(step, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0):\n"
         + KERAS_RESTARTS_FLOAT64_BODY.format(indent="    "), namespace)
    floatx = keras.config.floatx()
    try:
        for case in task.public:
            assert task.compare(namespace["shortcut"](*case.args), case.expected, case.args).ok, case
    finally:
        keras.config.set_floatx(floatx)  # the shortcut sets it for the whole process


@pytest.mark.parametrize("slug, task_name, shortcut", sorted(SHORTCUTS))
def test_calling_the_keras_object_scores_zero(slug, task_name, shortcut, tmp_path):
    require_confinement()  # bubblewrap hides the packages
    notebook = rewrite_function(nbformat.read(REPO / "solutions" / f"{slug}.ipynb", as_version=4),
                                task_name, SHORTCUTS[slug, task_name, shortcut])
    path = write(tmp_path, shortcut, notebook)
    [result] = grade.grade_batch(exercises()[slug], [path], seed=5)
    points = {t.name: t.points for t in result.tasks}
    assert points.pop(task_name) == 0, result.tasks
    # the rest of the notebook is the solution: it keeps every other point
    assert points == {t.name: t.points for t in exercises()[slug].tasks if t.name != task_name}
    [task] = [t for t in result.tasks if t.name == task_name]
    assert task.public_passed == 0 and task.hidden_passed == 0
    # the learner reads why: Keras is not there to call
    reasons = " ".join(task.lines)
    assert ("keras is not available while this exercise is graded" in reasons
            or "name 'keras' is not defined" in reasons), reasons
    # and the comparison cells that import Keras are explained, not reported as the learner's errors
    assert any("uses keras, which this exercise hides while it is graded" in note for note in result.notes)


def test_the_exercises_that_say_keras_is_hidden_are_those_that_hide_it():
    hiding = {slug for slug, exercise in exercises().items() if "keras" in exercise.hidden_modules}
    saying = {slug for slug in exercises()
              if "where Keras cannot be imported" in " ".join((REPO / "exercises" / f"{slug}.md").read_text().split())}
    assert hiding == saying == {"03_learning_rate_decay", "04_warmup_cosine_one_cycle", "06_adaptive_optimizers"}
    listed = "exercises 3, 4 and 6 hide `keras`"
    assert listed in " ".join((REPO / "book" / "99_instructors.md").read_text().split())
