"""What an exercise asks for: its graded tasks, their cases and how answers are compared.

Each exercise notebook `exercises/NN_slug.ipynb` has a spec module in `grader/exercises/` that
defines `EXERCISE = Exercise(...)`. A task is a function the learner writes. It has

- public cases, with their expected values written out, which `check` runs in the learner's own
  notebook (the tests assert that the solution notebook agrees with every one of them);
- a generator of hidden cases, drawn afresh from the grading run's seed; their expected values
  come from running the solution notebook, never from this package;
- a comparator (grader.compare), a hint shown on failure, and its points.

The spec holds no reference implementation: the published solutions are the only answers.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Literal

import numpy as np

from .compare import Comparator
from .inkernel.adapters import ADAPTERS


@dataclass(frozen=True)
class Case:
    """One call: positional arguments (plain data and numpy arrays) and, if public, the answer."""

    args: tuple
    expected: Any = None


# How far past its chapter a task goes, shown to learners beside its points: a warm-up turns a
# formula the chapter states into code; a core task is the step the chapter prepares; a stretch
# task asks for more than the chapter shows (every exercise has at least one).
Level = Literal["warm-up", "core", "stretch"]
LEVELS: tuple[Level, ...] = ("warm-up", "core", "stretch")


@dataclass(frozen=True)
class Task:
    name: str  # the name of the function the learner defines
    points: float
    public: tuple[Case, ...]
    hidden: Callable[[np.random.Generator], list[tuple]]  # draws argument tuples
    compare: Comparator
    hint: str
    call: str | None = None  # the adapter (grader.inkernel.adapters) when fn(*args) is not the call
    all_or_nothing: bool = False  # full points only when every case passes
    level: Level = "core"

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"task {self.name}: level must be one of {LEVELS}, not {self.level!r}")
        if self.call is not None and self.call not in ADAPTERS:
            raise ValueError(f"task {self.name}: there is no adapter called {self.call!r}; "
                             f"grader.inkernel.adapters has {', '.join(sorted(ADAPTERS))}")

    def hidden_cases(self, seed: int) -> list[tuple]:
        # A task's cases depend on the run's seed and on the task's name only, so that adding a
        # task to an exercise does not change the inputs of the others.
        rng = np.random.default_rng([seed, *self.name.encode()])
        return [tuple(args) for args in self.hidden(rng)]


@dataclass(frozen=True)
class Question:
    """A written answer that the instructor grades by hand (grader.written): the exercise's k-th
    answer block, in the order of the notebook."""

    key: str  # a short name for file names and gradebook columns
    points: float


@dataclass(frozen=True)
class Exercise:
    slug: str  # NN_slug, shared by the chapter, the exercise and the solution
    title: str
    tasks: tuple[Task, ...] = field(default_factory=tuple)
    # Packages the graded notebook cannot import, so that a task that mirrors a Keras object
    # cannot be passed by calling it (the exercise text says so).
    hidden_modules: tuple[str, ...] = ()
    written: tuple[Question, ...] = ()  # graded by hand, on top of the tasks' points

    @property
    def points(self) -> float:
        return sum(t.points for t in self.tasks)

    def task(self, name: str) -> Task:
        for t in self.tasks:
            if t.name == name:
                return t
        raise KeyError(name)


@dataclass(frozen=True)
class CaseSet:
    """The cases of one task in one run: public ones first, then hidden ones."""

    task: Task
    public: tuple[Case, ...]
    hidden: tuple[tuple, ...]

    @property
    def all_args(self) -> list[tuple]:
        return [c.args for c in self.public] + list(self.hidden)


def draw_cases(exercise: Exercise, seed: int) -> list[CaseSet]:
    """Every task's cases for one grading run: its public cases and hidden ones from *seed*."""
    return [CaseSet(t, t.public, tuple(t.hidden_cases(seed))) for t in exercise.tasks]


@lru_cache(maxsize=1)
def exercises() -> dict[str, Exercise]:
    """Every exercise spec in grader/exercises/, by slug."""
    from . import exercises as package

    found: dict[str, Exercise] = {}
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        spec = importlib.import_module(f"{package.__name__}.{module.name}").EXERCISE
        if spec.slug in found:
            raise RuntimeError(f"two exercise specs claim the slug {spec.slug}")
        found[spec.slug] = spec
    return dict(sorted(found.items()))


def find_task(name: str) -> tuple[Exercise, Task]:
    """The exercise and task for a function name; task names are unique across the course."""
    matches = [(e, t) for e in exercises().values() for t in e.tasks if t.name == name]
    if not matches:
        known = ", ".join(t.name for e in exercises().values() for t in e.tasks)
        raise KeyError(f"there is no task called {name!r}; the tasks are: {known}")
    return matches[0]
