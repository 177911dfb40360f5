"""Comparators: decide in the grader's own process whether a returned value is right.

A comparator gets the learner's decoded value, the reference value and the case's arguments, and
returns a Verdict. Its message never contains the expected value or the inputs, because it is also
shown for hidden cases; `check` adds those itself for public cases.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .wire import Unsupported


@dataclass(frozen=True)
class Verdict:
    ok: bool
    why: str = ""


Comparator = Callable[[Any, Any, tuple], Verdict]


def _kind(value: Any) -> str:
    if isinstance(value, Unsupported):
        return f"an object of type {value.type_name}"
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "a bool"
    if isinstance(value, int):
        return "an int"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a str"
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a dict"
    return type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def exact_int() -> Comparator:
    """An integer answer: the value must be an int (a numpy integer counts) and equal."""

    def compare(got: Any, expected: Any, args: tuple) -> Verdict:
        if not isinstance(got, int) or isinstance(got, bool):
            return Verdict(False, f"expected an int, got {_kind(got)}")
        if got != expected:
            return Verdict(False, "wrong value" + (" (too large)" if got > expected else " (too small)"))
        return Verdict(True)

    return compare


def _as_array(value: Any) -> np.ndarray | None:
    """A number, list or array of numbers as a float array; None if it is anything else."""
    if _is_number(value):
        return np.asarray(float(value))
    if isinstance(value, np.ndarray):
        return value.astype(float) if value.dtype != bool else None
    if isinstance(value, list):  # of numbers or of arrays: accepted where the numbers are right
        if any(isinstance(x, (bool, str)) or x is None for x in _flatten(value)):
            return None
        try:
            return np.asarray(value, dtype=float)
        except (ValueError, TypeError):  # ragged, or not numbers
            return None
    return None


def _flatten(value: list) -> list:
    out: list = []
    for x in value:
        if isinstance(x, list):
            out.extend(_flatten(x))
        else:
            out.append(x)
    return out


def close(rtol: float = 1e-6, atol: float = 1e-9) -> Comparator:
    """Numbers and arrays (nested in tuples or lists) equal within tolerance, with the same shape.

    A tuple or list is compared element by element when the expected value is one of several
    results (new weights, then new state); a list of numbers is accepted where an array is
    expected, since the contract is about the numbers.
    """

    def compare(got: Any, expected: Any, args: tuple, _path: str = "") -> Verdict:
        where = f" in {_path}" if _path else ""
        if isinstance(expected, tuple) or (isinstance(expected, list) and _as_array(expected) is None):
            if not isinstance(got, (tuple, list)) or len(got) != len(expected):
                return Verdict(False, f"expected {_kind(expected)}{where}, got {_kind(got)}")
            for i, (g, e) in enumerate(zip(got, expected)):
                verdict = compare(g, e, args, f"{_path}[{i}]" if _path else f"item {i}")
                if not verdict.ok:
                    return verdict
            return Verdict(True)
        exp = _as_array(expected)
        if exp is None:
            raise TypeError(f"close() cannot compare an expected {_kind(expected)}")
        arr = _as_array(got)
        if arr is None:
            return Verdict(False, f"expected {'a number' if exp.ndim == 0 else 'an array'}{where}, got {_kind(got)}")
        if arr.shape != exp.shape:
            what = "a number" if exp.ndim == 0 else f"shape {exp.shape}"
            return Verdict(False, f"expected {what}{where}, got {_kind(got) if arr.ndim == 0 else f'shape {arr.shape}'}")
        if np.isnan(arr).any() and not np.isnan(exp).any():
            return Verdict(False, f"NaN{where} where a number was expected")
        if np.isinf(arr).any() and not np.isinf(exp).any():
            return Verdict(False, f"infinity{where} where a finite number was expected")
        good = np.isclose(arr, exp, rtol=rtol, atol=atol, equal_nan=True)
        if good.all():
            return Verdict(True)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            rel = np.abs(arr - exp) / np.maximum(np.abs(exp), atol)
        # inf/inf (an infinity of the wrong sign) is NaN: call it infinitely wrong, not "nan"
        worst = float(np.max(np.where(good, 0.0, np.where(np.isnan(rel), np.inf, rel))))
        count = "" if exp.ndim == 0 else f"{int((~good).sum())} of {good.size} values wrong, "
        return Verdict(False, f"{count}wrong value{where} (relative error {worst:.1e}; tolerance {rtol:g})")

    return compare


def exact_choice(choices: tuple[str, ...]) -> Comparator:
    """A label from a fixed set of strings, which must match exactly."""

    def compare(got: Any, expected: Any, args: tuple) -> Verdict:
        if not isinstance(got, str):
            return Verdict(False, f"expected one of {', '.join(map(repr, choices))}, got {_kind(got)}")
        if got not in choices:
            return Verdict(False, f"{got!r} is not one of {', '.join(map(repr, choices))}")
        return Verdict(got == expected, "" if got == expected else "wrong label")

    return compare
