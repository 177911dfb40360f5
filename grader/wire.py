"""The only format in which values cross between the grader and a kernel: tagged JSON.

A submission's kernel may run hostile code, so nothing it sends back is unpickled or evaluated.
Values are encoded as small tagged objects, for example ``{"t": "ndarray", "shape": [2],
"dtype": "float64", "v": [1.0, 2.0]}``; the grader decodes them with its own numpy.
Anything else (a custom class, a function, an object with a clever ``__eq__``) is reported by its
type name only and can never compare equal to an expected value.

This module runs on both sides, so it imports nothing but the standard library and numpy.
"""

from __future__ import annotations

import json
import math
import re
from enum import StrEnum
from typing import Any

import numpy as np

MAX_ELEMENTS = 200_000  # an answer larger than this is not a plausible answer to any task
MAX_DEPTH = 20
MAX_NDIM = 32
MAX_DIGITS = 400  # of an integer on the wire
INT64 = (-2**63, 2**63 - 1)


class WireError(ValueError):
    """A value that cannot be encoded (too big, too deep, or of an unsupported type)."""


def _float(x: float) -> Any:
    # JSON has no NaN or infinity: spell them out so that they survive strict parsers too.
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _unfloat(x: Any) -> float:
    if isinstance(x, str):
        return float(x)  # "nan", "inf", "-inf"
    return float(x)


def encode(value: Any, _depth: int = 0, _budget: list[int] | None = None) -> dict:
    """Encode *value* as tagged JSON-ready data, or raise WireError."""
    budget = _budget if _budget is not None else [MAX_ELEMENTS]
    if _depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    budget[0] -= 1
    if budget[0] < 0:
        raise WireError(f"more than {MAX_ELEMENTS:,} values")
    # bool before int: bool is a subclass of int.
    if value is None:
        return {"t": "none"}
    if isinstance(value, (bool, np.bool_)):
        return {"t": "bool", "v": bool(value)}
    if isinstance(value, (int, np.integer)):
        return {"t": "int", "v": int(value)}
    if isinstance(value, (float, np.floating)):
        return {"t": "float", "v": _float(float(value))}
    if isinstance(value, str):
        if len(value) > 10_000:
            raise WireError("a string longer than 10,000 characters")
        return {"t": "str", "v": value}
    if isinstance(value, np.ndarray):
        if value.size > budget[0]:
            raise WireError(f"an array of more than {MAX_ELEMENTS:,} values")
        budget[0] -= value.size
        if value.dtype.kind in "biuf":
            flat = [_float(float(x)) if value.dtype.kind == "f" else x
                    for x in value.ravel().tolist()]
            return {"t": "ndarray", "dtype": value.dtype.kind, "shape": list(value.shape), "v": flat}
        raise WireError(f"an array of dtype {value.dtype}")
    if isinstance(value, (list, tuple)):
        if len(value) > budget[0]:  # refuse at once rather than after encoding 200,000 items
            raise WireError(f"more than {MAX_ELEMENTS:,} values")
        tag = "list" if isinstance(value, list) else "tuple"
        return {"t": tag, "v": [encode(x, _depth + 1, budget) for x in value]}
    if isinstance(value, dict):
        items = []
        for k, v in value.items():
            if not isinstance(k, str):
                raise WireError("a dict whose keys are not strings")
            items.append([k, encode(v, _depth + 1, budget)])
        return {"t": "dict", "v": items}
    raise WireError(f"an object of type {type(value).__name__}")


def describe_unsupported(value: Any) -> dict:
    """What the grader learns about a value it cannot encode: its type name, nothing more."""
    return {"t": "unsupported", "type": type(value).__name__[:100]}


def decode(data: Any) -> Any:
    """Rebuild a value from tagged data. Raises WireError on anything malformed, and on anything
    this process cannot represent (a shape or a number out of range): never another exception."""
    try:
        return _decode(data, 0)
    except WireError:
        raise
    except (ArithmeticError, ValueError, TypeError, MemoryError, RecursionError) as exc:
        raise WireError(f"malformed value ({type(exc).__name__})") from None


def _decode(data: Any, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    if not isinstance(data, dict) or not isinstance(data.get("t"), str):
        raise WireError("malformed value")
    tag = data["t"]
    v = data.get("v")
    if tag == "none":
        return None
    if tag == "bool" and isinstance(v, bool):
        return v
    if tag == "int" and isinstance(v, int) and not isinstance(v, bool):
        return v
    if tag == "float" and (isinstance(v, (int, float)) and not isinstance(v, bool)
                           or v in ("nan", "inf", "-inf")):
        return _unfloat(v)
    if tag == "str" and isinstance(v, str):
        return v
    if tag in ("list", "tuple") and isinstance(v, list):
        if len(v) > MAX_ELEMENTS:
            raise WireError("too many values")
        items = [_decode(x, depth + 1) for x in v]
        return items if tag == "list" else tuple(items)
    if tag == "dict" and isinstance(v, list):
        out = {}
        for pair in v:
            if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                raise WireError("malformed dict")
            out[pair[0]] = _decode(pair[1], depth + 1)
        return out
    if tag == "ndarray" and isinstance(v, list):
        shape = data.get("shape")
        kind = data.get("dtype")
        if not (isinstance(shape, list) and len(shape) <= MAX_NDIM
                and all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n <= MAX_ELEMENTS for n in shape)):
            raise WireError("malformed array shape")
        if math.prod(shape) != len(v) or len(v) > MAX_ELEMENTS:
            raise WireError("array shape does not match its data")
        dtype = {"b": bool, "i": np.int64, "u": np.int64, "f": np.float64}.get(kind)
        if dtype is None:
            raise WireError("malformed array dtype")
        if kind == "f":
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                       or x in ("nan", "inf", "-inf") for x in v):
                raise WireError("malformed array data")
            v = [_unfloat(x) for x in v]
        elif not all(isinstance(x, (int, bool)) and INT64[0] <= x <= INT64[1] for x in v):
            raise WireError("malformed array data")
        return np.array(v, dtype=dtype).reshape(shape)
    if tag == "unsupported":
        return Unsupported(str(data.get("type", "?"))[:100])
    raise WireError(f"malformed value of tag {tag!r}")


class Unsupported:
    """Stands for a returned object that could not cross the wire; equal to nothing."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str):
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"<an object of type {self.type_name}>"


def dumps(data: Any) -> str:
    return json.dumps(data, allow_nan=False, separators=(",", ":"))


def loads(text: str) -> Any:
    # Strict: no NaN/Infinity literals (the encoder spells those as strings), no huge integers.
    def reject(const: str) -> Any:
        raise WireError(f"non-standard JSON constant {const}")

    def bounded_int(digits: str) -> int:
        if len(digits) > MAX_DIGITS:
            raise WireError(f"an integer of more than {MAX_DIGITS} digits")
        return int(digits)

    return json.loads(text, parse_constant=reject, parse_int=bounded_int)


# ---- the harness's reply -----------------------------------------------------------------------

class ReplyStatus(StrEnum):
    """How a task went in the harness's reply (a StrEnum: it crosses the wire as its value)."""

    RAN = "ran"  # called on every case: "results" holds one outcome per case (see grader.verdict)
    MISSING = "missing"  # the notebook defines no function of the task's name
    NOT_CALLABLE = "not_callable"  # the name is bound to something else ("type" says what)
    HARNESS_ERROR = "harness_error"  # the task's adapter or the patched process broke the harness
    FAILED_RUN = "failed_run"  # set by the grader, never sent: no usable reply came back ("why")


def envelope(nonce: str, reply: Any) -> str:
    """The line the harness prints: the reply between markers that carry the run's nonce, so that
    the learner's own prints can neither be taken for it nor forge it without the nonce."""
    return f"\n<<grader:{nonce}>>{dumps(reply)}<<end:{nonce}>>\n"


class NoReply(WireError):
    """A cell's output without the harness's reply (the kernel died first, say)."""


def open_envelope(text: str, nonce: str) -> Any:
    """The reply that *text* (a cell's whole output) holds for *nonce*. Raises NoReply when there
    is none, WireError when there is one that cannot be read."""
    match = re.search(rf"<<grader:{re.escape(nonce)}>>(.*?)<<end:{re.escape(nonce)}>>", text, re.S)
    if match is None:
        raise NoReply("no reply")
    try:
        return loads(match.group(1))
    except (ValueError, TypeError, RecursionError) as exc:  # WireError is a ValueError
        raise WireError(f"an unreadable reply ({type(exc).__name__})") from None
