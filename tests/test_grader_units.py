"""Unit tests of the grader's small parts that hostile or odd values reach: the wire format's
decoder, the `close` comparator, the verdict of a case, and the output cap inside the kernel."""

from __future__ import annotations

import contextlib
import io
import json
import math
import warnings

import numpy as np
import pytest

from grader import wire
from grader.compare import close, exact_int
from grader.inkernel.harness import CappedStream
from grader.spec import Case, Task, exercises
from grader.verdict import judge_case

# ---- wire.decode on what a hostile kernel may send ------------------------------------------------


def array(shape, v, dtype="f"):
    return {"t": "ndarray", "dtype": dtype, "shape": shape, "v": v}


@pytest.mark.parametrize("data", [
    array([2, 2], [1.0, 2.0, 3.0]),  # the shape claims more values than it holds
    array([3], [1.0, 2.0, 3.0, 4.0]),  # ... or fewer
    array([-1, -3], [1.0, 2.0, 3.0]),  # negative sizes whose product matches
    array([True, 3], [1.0, 2.0, 3.0]),  # a bool is not a size
    array([3.0], [1.0, 2.0, 3.0]),
    array([1] * 33, [1.0]),  # more dimensions than numpy allows
    array([10**9, 0], []),  # a size past any plausible answer, times zero
    array("3", [1.0, 2.0, 3.0]),
    array([2], [1.0, "2"]),  # data that is not a number
    array([2], [1.0, None]),
    array([2], [1, 2], dtype="U"),  # an unknown dtype
    array([1], [2**63], dtype="i"),  # past int64
    array([1], [1.5], dtype="i"),
])
def test_decode_refuses_forged_arrays(data):
    with pytest.raises(wire.WireError):
        wire.decode(data)


@pytest.mark.parametrize("data", [
    None, [], "float", 3, {"v": 1}, {"t": 5, "v": 1}, {"t": "no such tag"},
    {"t": "bool", "v": 1}, {"t": "int", "v": True}, {"t": "int", "v": 1.5}, {"t": "int", "v": "1"},
    {"t": "float", "v": "1.0"}, {"t": "float", "v": None}, {"t": "float", "v": True},
    {"t": "str", "v": b"x"}, {"t": "list", "v": {"t": "none"}}, {"t": "tuple", "v": "ab"},
    {"t": "list", "v": [{"t": "int", "v": 1}, "raw"]},
    {"t": "dict", "v": [["k"]]}, {"t": "dict", "v": [[1, {"t": "none"}]]}, {"t": "dict", "v": {"k": 1}},
    {"t": "float", "v": 10**400},  # past float range: OverflowError inside, WireError outside
])
def test_decode_refuses_wrong_types_with_a_wire_error_only(data):
    with pytest.raises(wire.WireError):
        wire.decode(data)


def test_decode_refuses_deep_nesting_without_recursing_far():
    data = {"t": "none"}
    for _ in range(10_000):  # far past Python's recursion limit, were it followed
        data = {"t": "list", "v": [data]}
    with pytest.raises(wire.WireError, match="nested too deeply"):
        wire.decode(data)
    shallow = {"t": "none"}
    for _ in range(wire.MAX_DEPTH):
        shallow = {"t": "list", "v": [shallow]}
    assert wire.decode(shallow) is not None  # the limit is where the encoder puts it


def test_decode_keeps_huge_integers_as_integers_and_loads_bounds_their_digits():
    assert wire.decode({"t": "int", "v": 10**300}) == 10**300  # exact_int may compare it
    with pytest.raises(wire.WireError, match="digits"):
        wire.loads('{"t": "int", "v": ' + "9" * (wire.MAX_DIGITS + 1) + "}")
    with pytest.raises(wire.WireError, match="NaN"):
        wire.loads('{"t": "float", "v": NaN}')


def test_an_unsupported_value_is_only_its_clipped_type_name():
    value = wire.decode({"t": "unsupported", "type": "E" * 10_000, "v": "payload"})
    assert isinstance(value, wire.Unsupported) and value.type_name == "E" * 100
    assert value != wire.Unsupported("E" * 100) and value != 0  # equal to no other value


def test_round_trip_keeps_kinds_shapes_and_special_floats():
    value = (np.array([[1.0, np.nan], [np.inf, -np.inf]]), [1, True, None, "s"], {"k": np.int64(3)},
             np.zeros((2, 0, 3)), np.array([True, False]))
    back = wire.decode(wire.loads(wire.dumps(wire.encode(value))))
    assert isinstance(back, tuple) and isinstance(back[1], list)
    np.testing.assert_array_equal(back[0], value[0])
    assert back[1] == [1, True, None, "s"] and type(back[1][1]) is bool
    assert back[2] == {"k": 3} and type(back[2]["k"]) is int
    assert back[3].shape == (2, 0, 3) and back[4].dtype == bool


def test_decode_raises_nothing_but_wire_error_on_random_structures():
    """Random trees of tags, sizes and values: whatever comes back, only WireError escapes."""
    rng = np.random.default_rng(0)
    atoms = [None, True, 0, -1, 2**63, 10**30, 1.5, float("inf"), "nan", "x", "f", "i", "ndarray", [], {}]
    tags = ["none", "bool", "int", "float", "str", "list", "tuple", "dict", "ndarray", "unsupported", "?"]

    def tree(depth: int):
        pick = rng.integers(4)
        if depth > 4 or pick == 0:
            return atoms[rng.integers(len(atoms))]
        if pick == 1:
            return [tree(depth + 1) for _ in range(rng.integers(4))]
        node = {"t": tags[rng.integers(len(tags))], "v": tree(depth + 1)}
        if rng.integers(2):
            node["shape"] = [int(rng.integers(-2, 4)) for _ in range(rng.integers(3))]
            node["dtype"] = ["f", "i", "b", "u", "c"][rng.integers(5)]
        return node

    decoded = 0
    for _ in range(3000):
        try:
            wire.decode(tree(0))
            decoded += 1
        except wire.WireError:
            pass
    assert 0 < decoded < 3000  # both branches were reached


# ---- compare.close ------------------------------------------------------------------------------

CLOSE = close(rtol=1e-6)


def ok(got, expected) -> bool:
    return CLOSE(got, expected, ()).ok


def why(got, expected) -> str:
    verdict = CLOSE(got, expected, ())
    assert not verdict.ok
    return verdict.why


def test_nan_and_infinity_are_wrong_unless_expected():
    assert why(float("nan"), 1.0) == "NaN where a number was expected"
    assert ok(float("nan"), float("nan"))
    assert why(np.array([1.0, np.inf]), np.array([1.0, 2.0])) == "infinity where a finite number was expected"
    assert ok(np.array([1.0, np.inf]), np.array([1.0, np.inf]))
    assert why(-math.inf, math.inf).startswith("wrong value")
    assert why(1.0, math.nan).startswith("wrong value")


def test_wrong_infinities_are_reported_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "All-NaN slice" warning would leak into a notebook
        assert "relative error inf" in why(np.array([-np.inf, 1.0]), np.array([np.inf, 1.0]))
        assert why(-math.inf, math.inf) == "wrong value (relative error inf; tolerance 1e-06)"


def test_shapes_must_match_exactly():
    assert why(np.zeros(3), np.zeros((3, 1))) == "expected shape (3, 1), got shape (3,)"
    assert why(np.zeros(1), 0.0) == "expected a number, got shape (1,)"
    assert why(0.0, np.zeros(2)) == "expected shape (2,), got a float"
    assert ok(np.zeros((2, 0)), np.zeros((2, 0)))


def test_tolerance_is_relative_with_an_absolute_floor():
    assert ok(1e6 + 0.5, 1e6) and not ok(1e6 + 2, 1e6)
    assert ok(1e-10, 0.0) and not ok(1e-8, 0.0)
    assert why(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.5, 3.5])).startswith("2 of 3 values wrong")


def test_nested_tuples_are_compared_item_by_item_and_say_where():
    expected = (np.array([1.0, 2.0]), (np.array([0.5]), 3.0))
    assert ok((np.array([1.0, 2.0]), (np.array([0.5]), 3.0)), expected)
    assert ok([[1.0, 2.0], [[0.5], 3.0]], expected)  # lists where tuples are expected will do
    assert why((np.array([1.0, 2.0]), (np.array([0.5]), 4.0)), expected).endswith("in item 1[1] (relative error 3.3e-01; tolerance 1e-06)")
    assert why((np.array([1.0, 2.0]),), expected) == "expected a tuple of 2, got a tuple of 1"
    assert why(np.array([1.0, 2.0]), expected) == "expected a tuple of 2, got an array of shape (2,)"


def test_lists_of_numbers_stand_for_arrays_but_not_bools_strings_or_ragged_lists():
    assert ok([1.0, 2], np.array([1.0, 2.0])) and ok([[1], [2]], np.array([[1.0], [2.0]]))
    assert why([1.0, True], np.array([1.0, 1.0])) == "expected an array, got a list of 2"
    assert why([[1.0], [2.0, 3.0]], np.array([[1.0], [2.0]])) == "expected an array, got a list of 2"
    assert why(["1.0"], np.array([1.0])) == "expected an array, got a list of 1"
    assert why(np.array([True]), np.array([1.0])) == "expected an array, got an array of shape (1,)"
    assert why(True, 1.0) == "expected a number, got a bool"
    assert why(None, 1.0) == "expected a number, got None"


def test_close_cannot_judge_an_expected_string_and_says_so():
    with pytest.raises(TypeError, match="cannot compare an expected a str"):
        CLOSE(1.0, "one", ())


# ---- the verdict of one case --------------------------------------------------------------------

TASK = Task("double", 1.0, public=(Case((1.0,), 2.0),), hidden=lambda rng: [], compare=close(), hint="")


@pytest.mark.parametrize(("outcome", "says"), [
    ({"error": "NotImplementedError", "stub": True}, "not written yet"),
    ({"error": "it did not return within 5 s", "timeout": True}, "too slow: it did not return"),
    ({"error": "ValueError: boom (line 2: raise ValueError('boom'))"}, "raised ValueError: boom"),
    ({"value": {"t": "float", "v": "what"}}, "returned something the grader could not read"),
    ({"value": {"t": "unsupported", "type": "Anything"}, "why": "an object of type Anything"},
     "returned <an object of type Anything>, which is not a plain value (an object of type Anything)"),
    ({"value": {"t": "int", "v": 10**400}}, "its value cannot be compared (OverflowError)"),
    ({}, "returned something the grader could not read"),
    ("not a dict", "no result came back"),
    ({"value": {"t": "float", "v": 3.0}}, "wrong value"),
])
def test_every_outcome_gets_a_failed_verdict_with_its_reason(outcome, says):
    verdict = judge_case(TASK, outcome, 2.0, (1.0,))
    assert not verdict.ok and says in verdict.why, verdict.why


def test_a_comparator_that_breaks_its_contract_fails_the_case_only():
    returns_a_bool = Task("double", 1.0, public=(), hidden=lambda rng: [], compare=lambda g, e, a: True, hint="")
    verdict = judge_case(returns_a_bool, {"value": {"t": "float", "v": 2.0}}, 2.0, (1.0,))
    assert not verdict.ok and verdict.why == "its value cannot be compared (AttributeError)"
    assert judge_case(TASK, {"value": {"t": "float", "v": 2.0}}, 2.0, (1.0,)).ok
    exact = Task("count", 1.0, public=(), hidden=lambda rng: [], compare=exact_int(), hint="")
    assert judge_case(exact, {"value": {"t": "int", "v": 10**300}}, 10**300, ()).ok


# ---- CappedStream, the output cap inside the grading kernel ----------------------------------------


def test_the_cap_passes_output_up_to_its_budget_then_cuts_once_with_a_notice():
    inner = io.StringIO()
    capped = CappedStream(inner, limit=10)
    assert capped.write("12345") == 5
    assert capped.write("67890abc") == 8  # crosses the budget: the head, then the notice
    assert capped.write("more") == 4  # dropped, yet reported as written so print() goes on
    assert inner.getvalue() == "1234567890" + CappedStream.NOTICE
    capped.reset()  # before the next cell
    capped.write("next")
    assert inner.getvalue().endswith(CappedStream.NOTICE + "next")


def test_the_cap_stays_the_outermost_write_and_delegates_the_rest():
    inner = io.StringIO()
    capped = CappedStream(inner, limit=3)
    capped.write = lambda text: inner.write(text)  # how IPython 9 tees a stream's writes
    capped.write("abcdef")
    assert inner.getvalue() == "abc" + CappedStream.NOTICE
    assert capped.getvalue() == inner.getvalue() and capped.writable()  # everything else: the stream's


def test_print_through_the_cap_counts_characters_not_calls():
    inner = io.StringIO()
    capped = CappedStream(inner, limit=25)
    for i in range(100):
        print(f"line {i}", file=capped)
    assert inner.getvalue() == "line 0\nline 1\nline 2\nline" + CappedStream.NOTICE
    json.dumps(inner.getvalue())  # plain text, nothing else


# ---- the envelope of the harness's reply -----------------------------------------------------------


def test_the_envelope_is_found_only_under_its_nonce_and_read_strictly():
    reply = {"f": {"status": wire.ReplyStatus.RAN, "results": []}}
    printed = "learner's print <<grader:other>>{}<<end:other>>\n" + wire.envelope("n1", reply) + "more\n"
    assert wire.open_envelope(printed, "n1") == {"f": {"status": "ran", "results": []}}
    with pytest.raises(wire.NoReply):
        wire.open_envelope(printed, "n2")
    with pytest.raises(wire.WireError, match="unreadable") as caught:
        wire.open_envelope("<<grader:n1>>{'f': NaN}<<end:n1>>", "n1")
    assert not isinstance(caught.value, wire.NoReply)


def test_a_reply_that_is_not_there_or_not_readable_fails_the_task_with_its_reason():
    from grader.protocol import read_reply
    from grader.kernel import CellResult, CellStatus

    def parsed(status, stdout=""):
        return read_reply(CellResult(status, stdout=stdout), "n", "f")

    assert parsed(CellStatus.MEMORY) == {"status": "failed_run", "why": "used more memory than allowed"}
    assert parsed(CellStatus.OK)["why"] == "could not be called (the grader's call was interfered with)"
    for forged in ("[1]", "null", '{"f": 3}', '{"f": {"status": "ran", "results": [1]}}', "{"):
        assert parsed(CellStatus.OK, f"<<grader:n>>{forged}<<end:n>>")["why"] == "returned something the grader could not read"
    good = parsed(CellStatus.OK, wire.envelope("n", {"f": {"status": "ran", "results": [{"value": {"t": "none"}}]}}))
    assert good == {"status": "ran", "results": [{"value": {"t": "none"}}]}


# ---- the adapters (Task.call): functions of grader.inkernel.adapters, named in the payload -------

ADAPTED = [(slug, task) for slug, exercise in exercises().items() for task in exercise.tasks if task.call]


def test_some_task_uses_an_adapter():
    assert ADAPTED, "no task names an adapter: the tests below would test nothing"


@pytest.mark.parametrize(("slug", "task"), ADAPTED, ids=[f"{s}:{t.name}" for s, t in ADAPTED])
def test_every_adapter_a_task_names_passes_a_public_case_through(slug, task):
    """The adapter a spec names carries a public case to the learner's function."""
    from grader.inkernel.harness import make_caller

    seen: list[tuple] = []

    def spy(*args):
        seen.append(args)
        raise LookupError("spy")

    with pytest.raises(LookupError, match="spy"):
        make_caller(task.call)(spy, *task.public[0].args)
    assert seen, f"{task.name}: the adapter never called the learner's function"


def test_a_task_that_names_no_adapter_calls_the_function_directly_and_an_unknown_name_is_refused():
    from grader.inkernel.harness import make_caller

    assert make_caller(None)(lambda a, b: a - b, 5, 3) == 2
    with pytest.raises(ValueError, match="there is no adapter called 'amsgrad_stepz'; grader.inkernel.adapters has "
                                         "adamw_steps, amsgrad_steps"):
        Task("t", 1.0, public=(), hidden=lambda rng: [], compare=close(), hint="", call="amsgrad_stepz")


def test_the_step_adapters_pass_each_argument_in_its_place_and_feed_the_state_back():
    """amsgrad_steps and adamw_steps call the learner's step with the arguments in the order of
    its signature, and feed back its state: a spy records every call."""
    from grader.inkernel.adapters import adamw_steps, amsgrad_steps

    calls = []

    def spy(n_state: int):
        def step(*args):  # w, g, then the state: returns each plus one
            calls.append(args)
            return tuple(np.array(a) + 1 for a in (args[0], *args[2:2 + n_state]))
        return step

    h, target, w = np.array([2.0]), np.array([0.5]), np.array([1.5])
    out = amsgrad_steps(spy(3), h, target, w, np.array([0.1]), np.array([0.2]), np.array([0.3]), 7,
                        0.01, 0.9, 0.999, 1e-7, 2)
    assert [c[5:] for c in calls] == [(7, 0.01, 0.9, 0.999, 1e-7), (8, 0.01, 0.9, 0.999, 1e-7)]
    assert calls[0][1][0] == pytest.approx(2.0) and calls[1][0][0] == pytest.approx(2.5)  # g = h (w - target)
    assert calls[1][2][0] == pytest.approx(1.1) and calls[1][4][0] == pytest.approx(1.3)  # m, v_hat fed back
    assert [a.shape for a in out] == [(2, 1)] * 4

    calls.clear()
    out = adamw_steps(spy(2), h, target, w, np.array([0.1]), np.array([0.2]), 3, 0.01, 0.9, 0.999, 1e-7, 0.004, 1)
    assert [c[4:] for c in calls] == [(3, 0.01, 0.9, 0.999, 1e-7, 0.004)]
    assert [a.shape for a in out] == [(1, 1)] * 3


def _sgd_adapter():
    from grader.inkernel.adapters import run_steps

    return lambda fn, h, target, w, m, steps: run_steps(lambda w, g, s, t: fn(w, g, s[0], t),
                                                        h, target, w, [m], steps, 1, ["m"])


def test_run_steps_feeds_state_back_and_returns_one_row_per_step():
    def momentum(w, g, m, t):
        m = 0.5 * m - 0.1 * g
        return w + m, m

    w_rows, m_rows = _sgd_adapter()(momentum, np.array([1.0]), np.array([0.0]), np.array([2.0]), np.array([0.0]), 3)
    assert w_rows.shape == (3, 1) and m_rows.shape == (3, 1)
    w, m = 2.0, 0.0
    for row in range(3):  # the same recurrence by hand, g = h (w - target)
        m = 0.5 * m - 0.1 * w
        w = w + m
        assert w_rows[row, 0] == pytest.approx(w) and m_rows[row, 0] == pytest.approx(m)


def test_run_steps_holds_the_learner_to_the_contract():
    args = (np.array([1.0]), np.array([0.0]), np.array([2.0]), np.array([0.0]), 2)

    def in_place(w, g, m, t):
        w -= 0.1 * g
        return w, m

    with pytest.raises(AssertionError, match="the argument w was changed in place"):
        _sgd_adapter()(in_place, *args)
    with pytest.raises(TypeError, match="return a tuple of 2"):
        _sgd_adapter()(lambda w, g, m, t: w - g, *args)
    with pytest.raises(ValueError, match="the new m has shape"):
        _sgd_adapter()(lambda w, g, m, t: (w - g, np.zeros(3)), *args)


# ---- grader.casegen: the exercise specs' case generators -------------------------------------------

def test_draw_keeps_the_first_cases_then_draws_with_the_index_and_redraws_a_rejected_case():
    from grader.casegen import draw

    asked: list[int] = []

    def case(i: int):
        asked.append(i)
        return None if len(asked) in (2, 3) else (i, len(asked))  # the 2nd and 3rd draws are rejected

    assert draw(4, case, first=[("first",)]) == [("first",), (1, 1), (2, 4), (3, 5)]
    assert asked == [1, 2, 2, 2, 3]
    assert draw(2, lambda i: (i,)) == [(0,), (1,)]


def test_clear_of_integers_is_relative_above_one_unless_told_otherwise():
    from grader.casegen import clear_of_integers

    assert not clear_of_integers(3.0000005) and clear_of_integers(3.1)
    assert not clear_of_integers(2e6 + 0.5) and clear_of_integers(2e6 + 0.5, relative=False)
    assert not clear_of_integers(0.9999995) and clear_of_integers(0.5)


# ---- the harness in the kernel: a task it cannot call fails alone ----------------------------------

def test_a_task_whose_adapter_the_kernel_lacks_fails_alone_with_a_reason():
    """The kernel looks an adapter up by the name in the payload: a name it does not know (an
    older grader package in the kernel, say) is that task's harness_error; the next task runs."""
    from grader import scoring
    from grader.inkernel import harness
    from grader.spec import CaseSet

    payload = {"nonce": "n", "time_limit": 1.0, "tasks": [
        {"function": "f", "call": "no_such_adapter", "cases": [wire.encode((1.0,))]},
        {"function": "g", "call": None, "cases": [wire.encode((1.0,))]}]}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        harness.run(json.dumps(payload), {"f": lambda x: x, "g": lambda x: 2 * x})
    reply = wire.open_envelope(printed.getvalue(), "n")
    assert reply["f"] == {"status": wire.ReplyStatus.HARNESS_ERROR, "error": "KeyError: 'no_such_adapter'"}
    assert reply["g"] == {"status": wire.ReplyStatus.RAN, "results": [{"value": wire.encode(2.0)}]}
    task = Task("f", 1.0, public=(), hidden=lambda rng: [], compare=close(), hint="")
    result = scoring.judge(CaseSet(task, (), ((1.0,),)), reply["f"], [1.0])
    assert result.points == 0 and result.lines == ["f: it could not be called: KeyError: 'no_such_adapter'"]
