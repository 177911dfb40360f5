"""Helpers for the exercise specs' generators of hidden cases (Task.hidden in grader.spec).

A generator draws its cases from the run's random generator one at a time; `draw` keeps the
count and the list, and throws away a case that lands on a knife's edge (an answer that rounding
could tip either way), so each spec writes only how one case is made.
"""

from __future__ import annotations

from typing import Callable, Iterable


def draw(count: int, case: Callable[[int], tuple | None], first: Iterable[tuple] = ()) -> list[tuple]:
    """*count* cases: those in *first*, then ``case(i)`` for i = the number of cases so far.

    A ``case(i)`` that returns None is thrown away, and drawn again with the same i."""
    cases = list(first)
    while len(cases) < count:
        made = case(len(cases))
        if made is not None:
            cases.append(made)
    return cases


def clear_of_integers(x: float, relative: bool = True) -> bool:
    """True when *x* is more than 1e-6 (relative to x above 1, or absolute) from a whole number,
    so that an answer rounded to an integer cannot be tipped either way by floating point."""
    return abs(x - round(x)) > 1e-6 * (max(1.0, x) if relative else 1.0)
