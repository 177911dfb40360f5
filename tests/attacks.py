"""Hostile submissions for exercise 01, one per attack, built from the solution notebook.

Each Attack says what the file is, which scores it must end with (None: reported as malformed),
and a phrase its feedback.md must contain: the reason a learner or instructor reads. The suite in
test_grader_attacks.py grades them all in one batch, with the untouched solution among them.

Attacks marked `confined` get their verdict from the sandbox's isolation layers (namespaces,
cgroup, seccomp, an unprivileged uid); the others hold on any machine. Some attacks are not
notebook files at all (links, a FIFO, a name that is not UTF-8): they `make` themselves.
Helpers that would answer from outside the sandbox (UDP, TCP, Unix sockets) run in the test
process.
"""

from __future__ import annotations

import json
import os
import socketserver
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from grader.spec import exercises
from tests.helpers import REPO

SLUG = "01_parameters_vs_hyperparameters"
SOLUTION = REPO / "solutions" / f"{SLUG}.ipynb"
# Attacks break count_dense_params (a warm-up) or learning_rate_from_run (a core task).
TASKS = {task.name: task for task in exercises()[SLUG].tasks}
FULL = {name: float(task.points) for name, task in TASKS.items()}
COUNT_WRONG = {**FULL, "count_dense_params": 0.0}
RATE_WRONG = {**FULL, "learning_rate_from_run": 0.0}
ALL_WRONG = dict.fromkeys(FULL, 0.0)
# What hard-coding the public answers earns: the public cases' share of each task's points.
PUBLIC_ONLY = {name: round(task.points * len(task.public) / (len(task.public) + len(task.hidden_cases(0))), 4)
               for name, task in TASKS.items()}
# A marker in the command line of every process an attack leaves behind, to find survivors.
LEFTOVER = "lr-course-leftover-4242"


SECRET_VARIABLE = "LR_COURSE_GRADER_SECRET"  # set in the grader's environment by the suite
LONG_NAME = 1_000_000  # characters of a forged exception name; feedback must stay far smaller


@dataclass(frozen=True)
class Context:
    out: Path  # the grader's --out folder, which attacks try to write into
    submissions: Path = Path("/nonexistent")  # the folder the batch is graded from
    marker: str = "/nonexistent"  # a path in the command lines of the grader's sandboxes
    canary: Path = Path("/nonexistent")  # a file outside the sandbox that must stay untouched
    # A report that an earlier batch wrote into the same --out (late submissions, say): unlike the
    # reports of this batch, the grader does not write it again, so a forgery there would stay.
    earlier_report: Path = Path("/nonexistent/earlier/results.json")
    secret: str = ""  # the value of SECRET_VARIABLE in the grader's environment
    udp_port: int = 0
    tcp_port: int = 0
    unix_path: str = ""
    abstract_name: str = ""


@dataclass(frozen=True)
class Attack:
    name: str
    category: str
    build: Callable[[Context], bytes] | None
    scores: dict[str, float] | None  # None: the file must be reported as malformed
    says: str  # a phrase feedback.md must contain
    or_says: str | None = None  # another phrase that will do, where timing decides which comes
    confined: bool = False  # the verdict needs the sandbox's isolation layers
    make: Callable[[Path, Context], None] | None = None  # creates its own file(s) in the folder
    report: str | None = None  # the report folder's name, when it is not the attack's name

    @property
    def folder(self) -> str:
        return self.report or self.name


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


def stub_functions(notebook: dict, names=tuple(TASKS)) -> None:
    for name in names:
        cell = notebook["cells"][defining(notebook, name)]
        cell["source"] = f"def {name}(*args):\n    raise NotImplementedError\n"


COUNT = "def count_dense_params(layer_sizes):\n"
RATE = "def learning_rate_from_run(x, y, path):\n"

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
    Attack("left_as_stub", "broken", transform(lambda nb, ctx: stub_functions(nb, ["learning_rate_from_run"])),
           RATE_WRONG, "not written yet"),
    Attack("raises", "broken", replace_function("count_dense_params", COUNT + "    raise ValueError('boom')\n"),
           COUNT_WRONG, "raised ValueError: boom"),
    Attack("wrong_type_str", "broken", replace_function("count_dense_params", COUNT + "    return '2410'\n"),
           COUNT_WRONG, "expected an int, got a str"),
    Attack("float_not_int", "broken",
           replace_function("count_dense_params",
                            COUNT + "    return float(sum(a * b + b for a, b in zip(layer_sizes, layer_sizes[1:])))\n"),
           COUNT_WRONG, "expected an int, got a float"),
    Attack("returns_none", "broken", replace_function("learning_rate_from_run", RATE + "    return None\n"),
           RATE_WRONG, "got None"),
    Attack("returns_nan", "broken", replace_function("learning_rate_from_run", RATE + "    return float('nan')\n"),
           RATE_WRONG, "NaN"),
    Attack("returns_inf", "broken", replace_function("learning_rate_from_run", RATE + "    return float('inf')\n"),
           RATE_WRONG, "infinity"),
    Attack("wrong_shape", "broken",
           replace_function("learning_rate_from_run", RATE + "    import numpy as np\n    return np.zeros(3)\n"),
           RATE_WRONG, "expected a number, got shape (3,)"),
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

FORGE_HARNESS = """import grader.inkernel.harness, json, sys
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
grader.inkernel.harness.run = _forged_run
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
                    "np.array_equal = lambda *a, **k: True\n" + RATE + "    return 0.5\n"),
           RATE_WRONG, "wrong value"),
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
           PUBLIC_ONLY, "hidden case"),
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
           add_cell("import sys\nsys.excepthook = lambda *a: None\n" + RATE + "    raise RuntimeError('quiet')\n"),
           RATE_WRONG, "raised RuntimeError: quiet"),
    Attack("system_exit_in_cell", "swallowing", add_cell("raise SystemExit(0)\n"), FULL, "SystemExit"),
    Attack("sys_exit_in_function", "swallowing",
           replace_function("count_dense_params", COUNT + "    import sys\n    sys.exit(0)\n"),
           COUNT_WRONG, "raised SystemExit"),
    Attack("keyboard_interrupt_in_function", "swallowing",
           replace_function("learning_rate_from_run", RATE + "    raise KeyboardInterrupt\n"),
           RATE_WRONG, "raised KeyboardInterrupt"),
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
    wrong = code_cell(RATE + "    return 0.5\n", tags=["skip-execution", "nbval-skip"])
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
    Attack("executor_tags", "steering", transform(_tag_everything), RATE_WRONG, "wrong value"),
    Attack("forged_points_metadata", "steering", transform(_forged_metadata), ALL_WRONG, "not written yet"),
    Attack("changed_kernelspec", "steering", transform(_evil_kernelspec), FULL, "Score: **10 of 10**"),
    Attack("prefilled_outputs", "steering", transform(_fake_outputs), ALL_WRONG, "not written yet"),
]

# ---- 6. escaping the scratch directory -----------------------------------------------------------

def _write_fakes(ctx: Context) -> str:
    # Forging this batch's own report would prove nothing: the grader writes it after every
    # submission has run. An earlier batch's report in the same folder is never written again.
    fake = json.dumps({"score": 10, "tests": []})
    return (f"import pathlib\nearlier = pathlib.Path({str(ctx.earlier_report)!r})\n"
            "earlier.parent.mkdir(parents=True, exist_ok=True)\n"
            f"earlier.write_text({fake!r})\n")


def _write_gradebook(ctx: Context) -> str:
    # The grader writes gradebook.csv last, over any file of that name; a folder of that name it
    # cannot replace, so a write that got out would cost the whole batch its gradebook.
    return (f"import pathlib\nbook = pathlib.Path({str(ctx.out)!r}, 'gradebook.csv')\nbook.mkdir()\n"
            "(book / 'forged.csv').write_text('submission,total\\nescape_write_gradebook,10\\n')\n")


def _write_anywhere(ctx: Context) -> str:
    return (f"import pathlib\npathlib.Path({str(ctx.out)!r}, 'planted.txt').write_text('x')\n")


ESCAPING = [
    # The grader's folders do not exist in the sandbox, whose file system is read-only but for its
    # home; test_nothing_was_written_outside_the_sandbox checks that nothing was written.
    Attack("escape_write_results", "escaping",
           transform(lambda nb, ctx: (stub_functions(nb, ["count_dense_params"]),
                                      nb["cells"].append(code_cell(_write_fakes(ctx))))),
           COUNT_WRONG, "Read-only file system", confined=True),
    Attack("escape_write_gradebook", "escaping",
           transform(lambda nb, ctx: (stub_functions(nb, ["count_dense_params"]),
                                      nb["cells"].append(code_cell(_write_gradebook(ctx))))),
           COUNT_WRONG, "FileNotFoundError", confined=True),
    Attack("escape_write_out_dir", "escaping", add_cell(_write_anywhere), FULL, "FileNotFoundError", confined=True),
    Attack("escape_read_solution", "escaping",
           replace_function("count_dense_params",
                            COUNT + f"    text = open({str(SOLUTION)!r}).read()\n    return len(text)\n"),
           COUNT_WRONG, "FileNotFoundError", confined=True),
    Attack("escape_read_grader_files", "escaping",
           replace_function("learning_rate_from_run",
                            RATE + "    import glob\n    files = glob.glob('/tmp/grader-*/*.json')\n"
                            "    return float(sum(len(open(f).read()) for f in files[:2]) or 1.0)\n"),
           RATE_WRONG, "wrong value"),
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
           add_cell("hog = []\nwhile True:\n    hog.append(b'x' * (64 * 2**20))\n"), FULL, "memory",
           or_says="ran longer than"),
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
    Attack("input_in_function", "killing", replace_function("learning_rate_from_run", RATE + "    return float(input('rate? '))\n"),
           RATE_WRONG, "StdinNotImplementedError"),
]

# ---- 9. reaching the grader and the other sandboxes (issue 15, item 1) -----------------------------

def _reach_processes(ctx: Context) -> str:
    """Try resource limits, priority, affinity and scheduling on every process of this batch
    outside its own sandbox: the grader (its command line names --out) and the other sandboxes.

    Its own sandbox is this process, its ancestors, and the processes of its sandbox's cgroup
    (a forked kernel is not a descendant of the processes that hold its sandbox open): the
    cgroup is the sandbox's when it is the root of a cgroup namespace of its own, or named so."""
    return f"""import os, resource
markers = [{str(ctx.out)!r}.encode(), {ctx.marker!r}.encode()]
mine, pid = set(), os.getpid()
while pid > 0:  # this process and its ancestors
    mine.add(pid)
    try:
        pid = int(open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        break
own_group = open("/proc/self/cgroup").read()
paths = [line.split(":", 2)[2] for line in own_group.splitlines()]
sandbox_group = paths and all(p == "/" or "/sandbox-" in p for p in paths)
reached = set()
for entry in os.listdir("/proc"):
    if not entry.isdigit() or int(entry) in mine:
        continue
    try:
        if sandbox_group and open(f"/proc/{{entry}}/cgroup").read() == own_group:
            continue  # the same sandbox
    except OSError:
        pass
    try:
        cmdline = open(f"/proc/{{entry}}/cmdline", "rb").read()
    except OSError:
        continue
    if not any(m in cmdline for m in markers):
        continue
    target = int(entry)
    for attempt in (lambda: resource.prlimit(target, resource.RLIMIT_CPU, (1, 1)),
                    lambda: resource.prlimit(target, resource.RLIMIT_FSIZE, (0, 0)),
                    lambda: os.setpriority(os.PRIO_PROCESS, target, 19),
                    lambda: os.sched_setaffinity(target, {{0}}),
                    lambda: os.sched_setscheduler(target, os.SCHED_IDLE, os.sched_param(0))):
        try:
            attempt()
            reached.add(target)
        except OSError:
            pass
raise RuntimeError(f"reached {{len(reached)}} processes outside the sandbox")
"""


def _change_files(ctx: Context) -> str:
    """chmod and utime on the grader's folders and on a file of the instructor's."""
    return f"""import os
changed = 0
for path, change in (({str(ctx.submissions)!r}, lambda p: os.chmod(p, 0)),
                     ({str(ctx.out)!r}, lambda p: os.chmod(p, 0o555)),
                     ({str(ctx.canary)!r}, lambda p: os.chmod(p, 0o777)),
                     ({str(ctx.canary)!r}, lambda p: os.utime(p, (0, 0)))):
    try:
        change(path)
        changed += 1
    except OSError:
        pass
raise RuntimeError(f"changed {{changed}} files outside the sandbox")
"""


OUTSIDE = [
    Attack("reach_other_processes", "outside", add_cell(_reach_processes), FULL,
           "reached 0 processes outside the sandbox", confined=True),
    Attack("chmod_utime_outside", "outside", add_cell(_change_files), FULL,
           "changed 0 files outside the sandbox", confined=True),
]

# ---- 10. answers from outside (item 2): helpers in the test process answer count_dense_params ------

ASK = COUNT + """    import json, socket
    request = json.dumps(list(layer_sizes)).encode()
{connect}
    return int(reply)
"""
CONNECTIONS = {
    "udp": """    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    s.sendto(request, ("127.0.0.1", {ctx.udp_port}))
    reply = s.recv(100)""",
    "tcp": """    s = socket.create_connection(("127.0.0.1", {ctx.tcp_port}), timeout=2)
    s.sendall(request + b"\\n")
    reply = s.recv(100)""",
    "unix": """    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect({ctx.unix_path!r})
    s.sendall(request + b"\\n")
    reply = s.recv(100)""",
    "abstract": """    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect("\\0" + {ctx.abstract_name!r})
    s.sendall(request + b"\\n")
    reply = s.recv(100)""",
}


def _ask_helper(kind: str) -> Callable[[Context], bytes]:
    def build(ctx: Context) -> bytes:
        return replace_function("count_dense_params",
                                ASK.format(connect=CONNECTIONS[kind].format(ctx=ctx)))(ctx)
    return build


NETWORK = [
    Attack("udp_to_a_helper", "network", _ask_helper("udp"), COUNT_WRONG,
           "Address family not supported", confined=True),
    Attack("tcp_to_a_helper", "network", _ask_helper("tcp"), COUNT_WRONG,
           "Address family not supported", confined=True),
    Attack("unix_socket_to_a_helper", "network", _ask_helper("unix"), COUNT_WRONG,
           "FileNotFoundError", confined=True),
    Attack("abstract_socket_to_a_helper", "network", _ask_helper("abstract"), COUNT_WRONG,
           "ConnectionRefusedError", confined=True),
]


def count_params(sizes: list[int]) -> int:
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


class Helpers:
    """Servers outside the sandbox that would answer count_dense_params, on every transport the
    sandbox must not reach: UDP and TCP on 127.0.0.1, a Unix socket file, an abstract socket."""

    def __init__(self, folder: Path):
        self.asked = 0

        def answer(data: bytes) -> bytes:
            self.asked += 1
            return str(count_params(json.loads(data))).encode()

        class Stream(socketserver.StreamRequestHandler):
            def handle(self):
                self.wfile.write(answer(self.rfile.readline()))

        class Datagram(socketserver.BaseRequestHandler):
            def handle(self):
                data, sock = self.request
                sock.sendto(answer(data), self.client_address)

        class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
            daemon_threads = True

        class TcpServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
            daemon_threads = True

        self.unix_path = str(folder / "helper.sock")
        self.abstract_name = f"lr-course-helper-{os.getpid()}"
        self.servers = [socketserver.UDPServer(("127.0.0.1", 0), Datagram), TcpServer(("127.0.0.1", 0), Stream),
                        UnixServer(self.unix_path, Stream), UnixServer("\0" + self.abstract_name, Stream)]
        os.chmod(self.unix_path, 0o777)  # connectable by any user: only the sandbox may stop it
        self.udp_port = self.servers[0].server_address[1]
        self.tcp_port = self.servers[1].server_address[1]
        for server in self.servers:
            threading.Thread(target=server.serve_forever, daemon=True).start()

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


# ---- 11. links and odd files (items 3 and 4) -------------------------------------------------------

def _link(name: str, target: Callable[[Path], str]) -> Callable[[Path, Context], None]:
    def make(folder: Path, ctx: Context) -> None:
        os.symlink(target(folder), folder / f"{name}.ipynb")
    return make


def _fifo(folder: Path, ctx: Context) -> None:
    os.mkfifo(folder / "fifo.ipynb")


def _link_within(folder: Path, ctx: Context) -> None:
    """A link to a notebook below the link's own folder (git and tar keep such links)."""
    (folder / "linked_work").mkdir()
    (folder / "linked_work" / "real_notebook_behind_a_link.ipynb").write_bytes(SOLUTION.read_bytes())
    os.symlink("linked_work/real_notebook_behind_a_link.ipynb", folder / "symlink_within_folder.ipynb")


def _named(name: bytes) -> Callable[[Path, Context], None]:
    def make(folder: Path, ctx: Context) -> None:
        with open(os.path.join(os.fsencode(folder), name), "wb") as handle:
            handle.write(SOLUTION.read_bytes())
    return make


def _with_json(raw: bytes) -> Callable[[Context], bytes]:
    """The solution with *raw* JSON as a value in its metadata."""
    def build(ctx: Context) -> bytes:
        notebook = solution()
        notebook["metadata"]["forged"] = "PLACEHOLDER"
        return dump(notebook).replace(b'"PLACEHOLDER"', raw)
    return build


FILES = [
    Attack("symlink_to_solution", "files", None, None, "symbolic link to something outside its folder",
           make=_link("symlink_to_solution", lambda folder: str(SOLUTION))),
    Attack("symlink_within_folder", "files", None, FULL, "Score: **10 of 10**", make=_link_within),
    Attack("huge_integer_in_metadata", "files", _with_json(b"9" * 5000), None, "more than 400 digits"),
    Attack("deeply_nested_metadata", "files", _with_json(b"[" * 5000 + b"]" * 5000), None, "levels deep"),
    Attack("named_like_the_gradebook", "files", None, FULL, "Score: **10 of 10**",
           make=_named(b"gradebook.csv.ipynb"), report="gradebook.csv-2"),
    Attack("named_like_the_written_answers", "files", None, FULL, "Score: **10 of 10**",
           make=_named(b"written.ipynb"), report="written-2"),
    Attack("name_not_utf8", "files", None, FULL, "Score: **10 of 10**",
           make=_named(b"name_not_utf8_\xff\xfe.ipynb"), report="name_not_utf8"),
    Attack("symlink_loop", "files", None, None, "a loop",
           make=_link("symlink_loop", lambda folder: str(folder / "symlink_loop.ipynb"))),
    Attack("fifo", "files", None, None, "not a regular file", make=_fifo),
    Attack("symlink_to_dev_zero", "files", None, None, "outside its folder",
           make=_link("symlink_to_dev_zero", lambda folder: "/dev/zero")),
]

# ---- 12. outliving the batch (item 5) -------------------------------------------------------------

FORK_CHAIN = f'''import subprocess, sys
chain = """import os, time
began = time.time()
while time.time() - began < 120:  # keeps forking and exiting: its pid is never the same for long
    if os.fork():
        os._exit(0)
    time.sleep(0.005)
"""
subprocess.Popen([sys.executable, "-c", chain, "{LEFTOVER}"], start_new_session=True)
'''

OUTLIVING = [
    Attack("fork_chain", "outliving", add_cell(FORK_CHAIN), FULL, "Score: **10 of 10**", confined=True),
]

# ---- 13. identity (item 6): the grader may be root; its submissions never are ---------------------

IDENTITY = [
    Attack("read_etc_shadow", "identity",
           replace_function("count_dense_params", COUNT + "    return len(open('/etc/shadow').read())\n"),
           COUNT_WRONG, "PermissionError", confined=True),
    Attack("capabilities", "identity",
           add_cell("import os\ncaps = [l for l in open('/proc/self/status') if l.startswith('CapEff')][0].split()[1]\n"
                    "raise RuntimeError('root' if os.geteuid() == 0 or int(caps, 16) else 'not root: no capabilities')\n"),
           FULL, "not root: no capabilities", confined=True),
    Attack("grader_environment", "identity",
           add_cell(lambda ctx: f"""import os
found = sum({ctx.secret!r} in v for v in os.environ.values())
for entry in os.listdir('/proc'):
    try:
        found += {ctx.secret!r}.encode() in open(f'/proc/{{entry}}/environ', 'rb').read()
    except OSError:
        pass
raise RuntimeError(f"found the grader's secret {{found}} times")
"""), FULL, "found the grader's secret 0 times", confined=True),
]

# ---- 14. memory the old watchdog missed, and messages the old grader buffered (item 7) ------------

MEMORY = [
    # Many files under the per-file size limit, held open: 3 GB that no process maps. Near its
    # limit a cgroup may spend a while reclaiming before its OOM killer acts, so the cell may
    # also end at its time limit; unbounded, it would report what it held.
    Attack("memfd_hog", "memory",
           add_cell("import os\nchunk = b'x' * (32 * 2**20)\nheld = []\nfor i in range(96):\n"
                    "    held.append(os.memfd_create(f'hog{i}'))\n    os.write(held[-1], chunk)\n"
                    "raise RuntimeError(f'held {32 * len(held)} MB')\n"),
           FULL, "memory", or_says="ran longer than", confined=True),
    Attack("shm_hog", "memory",
           add_cell("chunk = b'x' * (32 * 2**20)\nfor i in range(96):\n"
                    "    with open(f'/dev/shm/hog{i}', 'wb') as f:\n        f.write(chunk)\n"),
           FULL, "No space left on device", confined=True),  # a tmpfs of bounded size, in the cgroup
    Attack("messages_without_a_cell", "memory",
           add_cell("import threading\nkernel = get_ipython().kernel\ntext = 'x' * 2**20\n"
                    "def flood():\n    while True:\n"
                    "        kernel.session.send(kernel.iopub_socket, 'stream', {'name': 'stdout', 'text': text}, parent=None)\n"
                    "threading.Thread(target=flood, daemon=True).start()\nimport time\ntime.sleep(3)\n"),
           FULL, "MB of output"),
    # One ZMQ message of 6 GB in 16 MB frames, sent without copying: ZMQ limits frames, not
    # their number, and hands a message to its reader only whole.
    Attack("one_message_of_many_frames", "memory",
           add_cell("import time, zmq\nkernel = get_ipython().kernel\nframe = zmq.Frame(b'x' * (16 * 2**20))\n"
                    "kernel.iopub_thread.socket.send_multipart([frame] * 384, copy=False)\ntime.sleep(5)\n"),
           FULL, "MB of output"),
]

# ---- 15. reports (item 8) ---------------------------------------------------------------------------

FORGE_VALUES = """import grader.inkernel.harness, json, sys
def _forged_run(payload_json, namespace):
    payload = json.loads(payload_json)
    out = {}
    for task in payload["tasks"]:
        results = [{"value": VALUE} for _ in task["cases"]]
        out[task["function"]] = {"status": "ran", "results": results}
    nonce = payload["nonce"]
    sys.stdout.write(f"<<grader:{nonce}>>{json.dumps(out)}<<end:{nonce}>>")
grader.inkernel.harness.run = _forged_run
"""

REPORTS = [
    Attack("long_exception_name", "reports",
           add_cell(f"raise type('E' * {LONG_NAME}, (Exception,), {{}})('boom')\n"), FULL, "EEEEEEEE"),
    Attack("forged_array_shape", "reports",
           add_cell(FORGE_VALUES.replace("VALUE", '{"t": "ndarray", "shape": [2**64, 0], "dtype": "f", "v": []}')),
           ALL_WRONG, "could not read"),
    Attack("forged_float_out_of_range", "reports",
           add_cell(FORGE_VALUES.replace("VALUE", '{"t": "float", "v": 10**350}')),
           ALL_WRONG, "could not read"),
    Attack("stat_the_solution", "reports",
           replace_function("count_dense_params",
                            COUNT + f"    import os\n    return os.stat({str(SOLUTION)!r}).st_size\n"),
           COUNT_WRONG, "FileNotFoundError", confined=True),
    Attack("list_other_submissions", "reports",
           add_cell(lambda ctx: f"import os\nprint(os.listdir({str(ctx.submissions)!r}))\n"),
           FULL, "FileNotFoundError", confined=True),
]

ATTACKS: list[Attack] = (MALFORMED + BROKEN + FOOLING + SWALLOWING + STEERING + ESCAPING + RESOURCES + KILLING
                         + OUTSIDE + NETWORK + FILES + OUTLIVING + IDENTITY + MEMORY + REPORTS)


def write_all(folder: Path, ctx: Context, attacks: list[Attack] = ATTACKS) -> list[Path]:
    """The attacks in *folder*, and two honest solutions: by name, one is graded first and one
    after every attack, so an attack that harms the grader for later submissions shows there."""
    folder.mkdir(parents=True, exist_ok=True)
    for attack in attacks:
        if attack.make is not None:
            attack.make(folder, ctx)
        else:
            (folder / f"{attack.name}.ipynb").write_bytes(attack.build(ctx))
    for name in HONEST:
        (folder / f"{name}.ipynb").write_bytes(SOLUTION.read_bytes())
    return sorted(folder.iterdir())


HONEST = ("honest_solution", "zz_honest_after_every_attack")
