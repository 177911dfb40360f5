"""Hostile submissions for exercise 01, one per attack, built from the solution notebook.

Each Attack says what the file is, which scores it must end with (None: reported as malformed),
and a phrase its feedback.md must contain: the reason a learner or instructor reads. The suite in
test_grader_attacks.py grades them all in one batch, with the untouched solution among them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from tests.helpers import REPO

SLUG = "01_parameters_vs_hyperparameters"
SOLUTION = REPO / "solutions" / f"{SLUG}.ipynb"
FULL = {"count_dense_params": 4.0, "fit_line_gd": 6.0}
COUNT_WRONG = {"count_dense_params": 0.0, "fit_line_gd": 6.0}
FIT_WRONG = {"count_dense_params": 4.0, "fit_line_gd": 0.0}
ALL_WRONG = {"count_dense_params": 0.0, "fit_line_gd": 0.0}
# A marker in the command line of every process an attack leaves behind, to find survivors.
LEFTOVER = "lr-course-leftover-4242"


@dataclass(frozen=True)
class Context:
    out: Path  # the grader's --out folder, which attacks try to write into


@dataclass(frozen=True)
class Attack:
    name: str
    category: str
    build: Callable[[Context], bytes]
    scores: dict[str, float] | None  # None: the file must be reported as malformed
    says: str  # a phrase feedback.md must contain


def solution() -> dict:
    return json.loads(SOLUTION.read_text())


def code_cell(source: str, **metadata) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": metadata, "outputs": [],
            "source": source}


def dump(notebook: dict) -> bytes:
    return json.dumps(notebook).encode()


def defining(notebook: dict, name: str) -> int:
    return next(i for i, c in enumerate(notebook["cells"])
                if c["cell_type"] == "code" and f"def {name}(" in "".join(c["source"]))


def replace_function(name: str, source: str, extra: str = "") -> Callable[[Context], bytes]:
    """The solution with `def name` replaced by *source* (and *extra* code before it)."""
    def build(ctx: Context) -> bytes:
        notebook = solution()
        notebook["cells"][defining(notebook, name)]["source"] = extra + source
        return dump(notebook)
    return build


def add_cell(source: str | Callable[[Context], str], at: str = "end", **metadata) -> Callable[[Context], bytes]:
    """The solution with one more code cell, at the end or right after the set-up cell."""
    def build(ctx: Context) -> bytes:
        notebook = solution()
        text = source(ctx) if callable(source) else source
        position = len(notebook["cells"]) if at == "end" else 2
        notebook["cells"].insert(position, code_cell(text, **metadata))
        return dump(notebook)
    return build


def transform(change: Callable[[dict, Context], None]) -> Callable[[Context], bytes]:
    def build(ctx: Context) -> bytes:
        notebook = solution()
        change(notebook, ctx)
        return dump(notebook)
    return build


def stub_functions(notebook: dict, names=("count_dense_params", "fit_line_gd")) -> None:
    for name in names:
        cell = notebook["cells"][defining(notebook, name)]
        cell["source"] = f"def {name}(*args):\n    raise NotImplementedError\n"


COUNT = "def count_dense_params(layer_sizes):\n"
FIT = "def fit_line_gd(x, y, lr, epochs):\n"

# ---- 1. malformed files --------------------------------------------------------------------------

def _big(ctx: Context) -> bytes:
    notebook = solution()
    notebook["cells"][0]["outputs"] = []
    notebook["cells"].append({"cell_type": "markdown", "metadata": {}, "source": "x" * (25 * 2**20)})
    return dump(notebook)


def _nbformat3(ctx: Context) -> bytes:
    return dump({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                 "worksheets": [{"cells": [{"cell_type": "code", "input": "x = 1", "outputs": []}]}]})


MALFORMED = [
    Attack("invalid_json", "malformed", lambda ctx: SOLUTION.read_bytes()[:-200], None, "not valid JSON"),
    Attack("json_list", "malformed", lambda ctx: b"[]", None, "holds a JSON list"),
    Attack("nbformat_3", "malformed", _nbformat3, None, "old format version 3"),
    Attack("nul_bytes", "malformed", lambda ctx: SOLUTION.read_bytes().replace(b"{", b"{\x00", 1), None, "NUL bytes"),
    Attack("far_over_size_cap", "malformed", _big, None, "are not graded"),
    Attack("no_code_cells", "malformed",
           transform(lambda nb, ctx: nb.update(cells=[c for c in nb["cells"] if c["cell_type"] != "code"])),
           None, "no code cells"),
    Attack("not_utf8", "malformed", lambda ctx: SOLUTION.read_bytes().replace(b"Solution", b"Sol\xe9tion"), None,
           "not UTF-8"),
    Attack("cells_not_a_list", "malformed", lambda ctx: dump({"nbformat": 4, "nbformat_minor": 5, "cells": {}}),
           None, "no list of cells"),
]

# ---- 2. missing or broken answers ------------------------------------------------------------------

BROKEN = [
    Attack("renamed", "broken", replace_function("count_dense_params", "def count_params(layer_sizes):\n    return 0\n"),
           COUNT_WRONG, "there is no function called count_dense_params"),
    Attack("deleted", "broken", replace_function("count_dense_params", "# nothing here\n"),
           COUNT_WRONG, "there is no function called count_dense_params"),
    Attack("left_as_stub", "broken", transform(lambda nb, ctx: stub_functions(nb, ["fit_line_gd"])),
           FIT_WRONG, "not written yet"),
    Attack("raises", "broken", replace_function("count_dense_params", COUNT + "    raise ValueError('boom')\n"),
           COUNT_WRONG, "raised ValueError: boom"),
    Attack("wrong_type_str", "broken", replace_function("count_dense_params", COUNT + "    return '2410'\n"),
           COUNT_WRONG, "expected an int, got a str"),
    Attack("float_not_int", "broken",
           replace_function("count_dense_params",
                            COUNT + "    return float(sum(a * b + b for a, b in zip(layer_sizes, layer_sizes[1:])))\n"),
           COUNT_WRONG, "expected an int, got a float"),
    Attack("returns_none", "broken", replace_function("fit_line_gd", FIT + "    return None\n"),
           FIT_WRONG, "got None"),
    Attack("returns_nan", "broken", replace_function("fit_line_gd", FIT + "    return float('nan'), float('nan')\n"),
           FIT_WRONG, "NaN"),
    Attack("returns_inf", "broken", replace_function("fit_line_gd", FIT + "    return float('inf'), 0.0\n"),
           FIT_WRONG, "infinity"),
    Attack("wrong_shape", "broken",
           replace_function("fit_line_gd", FIT + "    import numpy as np\n    return np.zeros(3)\n"),
           FIT_WRONG, "expected a tuple of 2, got an array of shape (3,)"),
    Attack("not_callable", "broken", replace_function("count_dense_params", "count_dense_params = 2410\n"),
           COUNT_WRONG, "count_dense_params is int, not a function"),
    Attack("huge_answer", "broken", replace_function("count_dense_params", COUNT + "    return list(range(10**6))\n"),
           COUNT_WRONG, "not a plain value"),
]

# ---- 3. fooling comparisons ------------------------------------------------------------------------

ALWAYS_EQUAL = """class Anything:
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    def __hash__(self): return 0
"""

FORGE_HARNESS = """import grader.harness, json, sys
from grader import wire
from grader.spec import exercises
_public = {t.name: [c.expected for c in t.public] for t in exercises()["01_parameters_vs_hyperparameters"].tasks}
def _forged_run(payload_json, namespace):
    payload = json.loads(payload_json)
    out = {}
    for task in payload["tasks"]:
        answers = _public[task["function"]]
        # Claim the public answers for every case: the best a forger can know.
        results = [{"value": wire.encode(answers[i % len(answers)])} for i in range(len(task["cases"]))]
        out[task["function"]] = {"status": "ran", "results": results}
    nonce = payload["nonce"]
    sys.stdout.write(f"<<grader:{nonce}>>{wire.dumps(out)}<<end:{nonce}>>")
grader.harness.run = _forged_run
"""

FOOLING = [
    Attack("eq_always_true", "fooling",
           replace_function("count_dense_params", COUNT + "    return Anything()\n", ALWAYS_EQUAL),
           COUNT_WRONG, "not a plain value"),
    Attack("int_subclass_eq", "fooling",
           replace_function("count_dense_params", COUNT + "    return SneakyInt(-1)\n",
                            "class SneakyInt(int):\n    def __eq__(self, other): return True\n    __hash__ = int.__hash__\n"),
           COUNT_WRONG, "wrong value"),
    Attack("patched_numpy", "fooling",
           add_cell("import numpy as np\nnp.isclose = lambda *a, **k: True\nnp.allclose = lambda *a, **k: True\n"
                    "np.array_equal = lambda *a, **k: True\n"
                    "def fit_line_gd(x, y, lr, epochs):\n    return (0.5, 0.5)\n"),
           FIT_WRONG, "wrong value"),
    Attack("patched_math_and_builtins", "fooling",
           add_cell("import math, builtins\nmath.isclose = lambda *a, **k: True\nbuiltins.abs = lambda x: 0\n"
                    "builtins.round = lambda *a, **k: 0\n"
                    "def count_dense_params(layer_sizes):\n    return 1\n"),
           COUNT_WRONG, "wrong value"),
    Attack("patched_json", "fooling",
           add_cell("import json\njson.dumps = lambda *a, **k: '{\"count_dense_params\": {\"status\": \"ran\"}}'\n"
                    "json.loads = lambda *a, **k: {}\n"),
           # The kernel can no longer talk: the cell is skipped on a fresh kernel, like a crash.
           FULL, "broke the kernel's messaging"),
    Attack("forged_harness", "fooling",
           transform(lambda nb, ctx: (stub_functions(nb), nb["cells"].append(code_cell(FORGE_HARNESS)))),
           # Forging the harness earns what hard-coding the public answers would: nothing hidden.
           {"count_dense_params": round(4 * 4 / 12, 4), "fit_line_gd": round(6 * 5 / 13, 4)}, "hidden case"),
]

# ---- 4. swallowing errors --------------------------------------------------------------------------

SWALLOW_AST = """import ast
class SwallowErrors(ast.NodeTransformer):
    def visit_Module(self, node):
        handler = ast.ExceptHandler(type=ast.Name('BaseException', ast.Load()), name=None, body=[ast.Pass()])
        node.body = [ast.Try(body=node.body or [ast.Pass()], handlers=[handler], orelse=[], finalbody=[])]
        return ast.fix_missing_locations(node)
get_ipython().ast_transformers.append(SwallowErrors())
"""

SWALLOWING = [
    Attack("ast_transformer", "swallowing",
           transform(lambda nb, ctx: (nb["cells"].insert(2, code_cell(SWALLOW_AST)),
                                      nb["cells"].__setitem__(defining(nb, "count_dense_params"),
                                                              code_cell(COUNT + "    return 1 / 0\n")))),
           COUNT_WRONG, "raised ZeroDivisionError"),
    Attack("showtraceback_override", "swallowing",
           add_cell("get_ipython().showtraceback = lambda *a, **k: None\n"
                    "def count_dense_params(layer_sizes):\n    raise RuntimeError('hidden')\n"),
           COUNT_WRONG, "raised RuntimeError: hidden"),
    Attack("excepthook", "swallowing",
           add_cell("import sys\nsys.excepthook = lambda *a: None\n"
                    "def fit_line_gd(x, y, lr, epochs):\n    raise RuntimeError('quiet')\n"),
           FIT_WRONG, "raised RuntimeError: quiet"),
    Attack("system_exit_in_cell", "swallowing", add_cell("raise SystemExit(0)\n"), FULL, "SystemExit"),
    Attack("sys_exit_in_function", "swallowing",
           replace_function("count_dense_params", COUNT + "    import sys\n    sys.exit(0)\n"),
           COUNT_WRONG, "raised SystemExit"),
    Attack("keyboard_interrupt_in_function", "swallowing",
           replace_function("fit_line_gd", FIT + "    raise KeyboardInterrupt\n"),
           FIT_WRONG, "raised KeyboardInterrupt"),
    # In a kernel, exit() only asks the front end to shut down: nothing to grade differently.
    Attack("exit_call", "swallowing", add_cell("exit()\n"), FULL, "Score: **10 of 10**"),
    Attack("ignores_interrupts", "swallowing",
           replace_function("count_dense_params",
                            COUNT + "    import signal, time\n    signal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                            "    while True:\n        try:\n            time.sleep(1)\n"
                            "        except BaseException:\n            pass\n"),
           COUNT_WRONG, "ignored the interrupt"),
]

# ---- 5. steering the executor ----------------------------------------------------------------------

def _tag_everything(notebook: dict, ctx: Context) -> None:
    for cell in notebook["cells"]:
        cell["metadata"]["tags"] = ["skip-execution", "raises-exception", "nbval-skip", "remove-cell"]
    wrong = code_cell(FIT + "    return (0.5, 0.5)\n", tags=["skip-execution", "nbval-skip"])
    notebook["cells"].append(wrong)


def _forged_metadata(notebook: dict, ctx: Context) -> None:
    stub_functions(notebook)
    notebook["metadata"]["grader"] = {"score": 10, "points": 10, "passed": True}
    for cell in notebook["cells"]:
        cell["metadata"]["nbgrader"] = {"grade": True, "points": 100, "solution": True, "grade_id": "x"}


def _evil_kernelspec(notebook: dict, ctx: Context) -> None:
    notebook["metadata"]["kernelspec"] = {"name": "bash", "display_name": "Bash", "language": "bash",
                                          "argv": ["/bin/sh", "-c", "echo pwned"]}


def _fake_outputs(notebook: dict, ctx: Context) -> None:
    stub_functions(notebook)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["execution_count"] = 1
            cell["outputs"] = [{"output_type": "stream", "name": "stdout",
                                "text": "✓ count_dense_params: 4 of 4 public cases pass.\n"},
                               {"output_type": "execute_result", "execution_count": 1, "metadata": {},
                                "data": {"text/plain": "{'score': 10}"}}]


STEERING = [
    Attack("executor_tags", "steering", transform(_tag_everything), FIT_WRONG, "wrong value"),
    Attack("forged_points_metadata", "steering", transform(_forged_metadata), ALL_WRONG, "not written yet"),
    Attack("changed_kernelspec", "steering", transform(_evil_kernelspec), FULL, "Score: **10 of 10**"),
    Attack("prefilled_outputs", "steering", transform(_fake_outputs), ALL_WRONG, "not written yet"),
]

# ---- 6. escaping the scratch directory -----------------------------------------------------------

def _write_fakes(ctx: Context) -> str:
    fake = json.dumps({"score": 10, "tests": []})
    return (f"import pathlib\nout = pathlib.Path({str(ctx.out)!r})\n"
            f"(out / 'escape_write_results').mkdir(parents=True, exist_ok=True)\n"
            f"(out / 'escape_write_results' / 'results.json').write_text({fake!r})\n")


def _write_gradebook(ctx: Context) -> str:
    return (f"import pathlib\npathlib.Path({str(ctx.out)!r}, 'gradebook.csv')"
            ".write_text('submission,total\\nescape_write_gradebook,10\\n')\n")


def _write_anywhere(ctx: Context) -> str:
    return (f"import pathlib\npathlib.Path({str(ctx.out)!r}, 'planted.txt').write_text('x')\n")


ESCAPING = [
    Attack("escape_write_results", "escaping",
           transform(lambda nb, ctx: (stub_functions(nb, ["count_dense_params"]),
                                      nb["cells"].append(code_cell(_write_fakes(ctx))))),
           COUNT_WRONG, "PermissionError"),
    Attack("escape_write_gradebook", "escaping",
           transform(lambda nb, ctx: (stub_functions(nb, ["count_dense_params"]),
                                      nb["cells"].append(code_cell(_write_gradebook(ctx))))),
           COUNT_WRONG, "PermissionError"),
    Attack("escape_write_out_dir", "escaping", add_cell(_write_anywhere), FULL, "PermissionError"),
    Attack("escape_read_solution", "escaping",
           replace_function("count_dense_params",
                            COUNT + f"    text = open({str(SOLUTION)!r}).read()\n    return len(text)\n"),
           COUNT_WRONG, "PermissionError"),
    Attack("escape_read_grader_files", "escaping",
           replace_function("fit_line_gd",
                            FIT + "    import glob\n    files = glob.glob('/tmp/grader-*/*.json')\n"
                            "    return tuple(len(open(f).read()) for f in files[:2]) or (1.0, 1.0)\n"),
           FIT_WRONG, "wrong value"),
]

# ---- 7. resource abuse -----------------------------------------------------------------------------

LEAVE_PROCESSES = f"""import subprocess, sys
subprocess.Popen(["sleep", "4242"], stdout=subprocess.DEVNULL)
daemon = "import os, time\\nif os.fork() == 0:\\n    os.setsid()\\n    time.sleep(4242)"
subprocess.Popen([sys.executable, "-c", daemon, "{LEFTOVER}"], start_new_session=True)
subprocess.Popen(["sh", "-c", "exec -a {LEFTOVER} sleep 4242"])
"""

RESOURCES = [
    Attack("infinite_loop_top_level", "resources", add_cell("while True:\n    pass\n"), FULL, "ran longer than"),
    Attack("never_returns", "resources", replace_function("count_dense_params", COUNT + "    while True:\n        pass\n"),
           COUNT_WRONG, "too slow"),
    Attack("sleep_top_level", "resources", add_cell("import time\ntime.sleep(10**6)\n"), FULL, "ran longer than"),
    Attack("memory_bomb_at_once", "resources", add_cell("hog = bytearray(64 * 2**30)\n"), FULL, "MemoryError"),
    Attack("memory_bomb_growing", "resources",
           add_cell("hog = []\nwhile True:\n    hog.append(b'x' * (64 * 2**20))\n"), FULL, "memory"),
    Attack("output_flood", "resources", add_cell("while True:\n    print('x' * 10000)\n"), FULL, "ran longer than"),
    Attack("output_flood_past_the_cap", "resources",
           add_cell("import os, sys\nsys.stdout = sys.stdout._grader_stream\nwhile True:\n"
                    "    print('x' * 10000)\n    os.write(1, b'y' * 10000)\n"), FULL, "MB of output and was interrupted"),
    Attack("processes_left_running", "resources", add_cell(LEAVE_PROCESSES), FULL, "Score: **10 of 10**"),
    Attack("thread_left_running", "resources",
           add_cell(f"import threading, time\nthreading.Thread(target=time.sleep, args=(4242,), name={LEFTOVER!r}).start()\n"),
           FULL, "Score: **10 of 10**"),
]

# ---- 8. killing the kernel -------------------------------------------------------------------------

KILLING = [
    Attack("os_exit_top_level", "killing", add_cell("import os\nos._exit(1)\n"), FULL, "crashed the kernel"),
    Attack("sigkill_itself", "killing", add_cell("import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n"),
           FULL, "crashed the kernel"),
    Attack("kill_the_launcher", "killing", add_cell("import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n"),
           FULL, "crashed the kernel"),
    Attack("segfault_top_level", "killing", add_cell("import ctypes\nctypes.string_at(0)\n"), FULL, "crashed the kernel"),
    Attack("os_exit_in_function", "killing",
           replace_function("count_dense_params", COUNT + "    import os\n    os._exit(3)\n"),
           COUNT_WRONG, "crashed the kernel"),
    Attack("input_top_level", "killing", add_cell("name = input('Your name? ')\n"), FULL, "StdinNotImplementedError"),
    Attack("input_in_function", "killing", replace_function("fit_line_gd", FIT + "    return float(input('w? ')), 0.0\n"),
           FIT_WRONG, "StdinNotImplementedError"),
]

ATTACKS: list[Attack] = MALFORMED + BROKEN + FOOLING + SWALLOWING + STEERING + ESCAPING + RESOURCES + KILLING


def write_all(folder: Path, ctx: Context) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for attack in ATTACKS:
        path = folder / f"{attack.name}.ipynb"
        path.write_bytes(attack.build(ctx))
        paths.append(path)
    honest = folder / "honest_solution.ipynb"
    honest.write_bytes(SOLUTION.read_bytes())
    return [honest, *paths]

