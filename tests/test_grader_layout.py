"""The grader's layout keeps its trust boundary: what runs in the submission's kernel, and what
runs in the sandbox's launcher, imports only what may run there.

- grader/inkernel/ runs in the hostile kernel (and in check()): the standard library, numpy,
  IPython (the kernel's own) and grader.wire, nothing else of the grader.
- grader/sandbox/launcher.py runs as a plain script (`python -I -S`) with its siblings landlock.py
  and seccomp.py loaded by path: the standard library only. The fork server, zygote.py, adds
  ipykernel, which its forks become. The sandbox package imports nothing of the grader outside
  itself.
- The grader's modules import each other without cycles.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

GRADER = REPO / "grader"
STDLIB = set(sys.stdlib_module_names) | {"__future__"}


def imports(path: Path) -> set[str]:
    """The absolute names of the modules *path* imports, anywhere in it (inside functions too)."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                # `from . import wire` names a module; `from .x import name` names x
                names = [f"{module}.{a.name}" for a in node.names] if not node.module else [module]
                found.update(names)
            else:
                found.add(node.module)
    return found


def outside(names: set[str], allowed_prefixes: tuple[str, ...], allowed_tops: set[str]) -> set[str]:
    return {n for n in names
            if n.split(".")[0] not in allowed_tops and not any(n == p or n.startswith(p + ".") for p in allowed_prefixes)}


def test_the_imports_are_read_right():
    """The parser of this file resolves relative imports (so the rules below can fail)."""
    assert {"grader.wire", "grader.inkernel.adapters", "IPython"} <= imports(GRADER / "inkernel" / "harness.py")
    assert "grader.sandbox" in imports(GRADER / "kernel.py")


@pytest.mark.parametrize("path", sorted((GRADER / "inkernel").glob("*.py")), ids=lambda p: p.name)
def test_the_in_kernel_code_imports_only_the_stdlib_numpy_and_wire(path):
    wrong = outside(imports(path), ("grader.wire", "grader.inkernel"), STDLIB | {"numpy", "IPython"})
    assert not wrong, f"{path.name} runs in the submission's kernel but imports {sorted(wrong)}"


def test_wire_imports_only_the_stdlib_and_numpy():
    assert not outside(imports(GRADER / "wire.py"), (), STDLIB | {"numpy"})


@pytest.mark.parametrize("name", ["launcher", "landlock", "seccomp"])
def test_the_launcher_and_what_it_loads_import_only_the_stdlib(name):
    wrong = outside(imports(GRADER / "sandbox" / f"{name}.py"), (), STDLIB)
    assert not wrong, f"{name}.py runs as a plain script in the sandbox but imports {sorted(wrong)}"


def test_the_fork_server_imports_only_the_stdlib_and_the_kernel_it_becomes():
    """What the server preloads comes by name from the grader (forkserver.PRELOAD); its own code
    needs the standard library, and ipykernel once a fork becomes a kernel."""
    wrong = outside(imports(GRADER / "sandbox" / "zygote.py"), ("ipykernel",), STDLIB)
    assert not wrong, f"zygote.py runs outside the grader's process but imports {sorted(wrong)}"


@pytest.mark.parametrize("path", sorted((GRADER / "sandbox").glob("*.py")), ids=lambda p: p.name)
def test_the_sandbox_imports_nothing_of_the_grader_outside_itself(path):
    assert not {n for n in imports(path) if n.startswith("grader.") and not n.startswith("grader.sandbox")}


def test_the_grading_kernel_loads_only_the_in_kernel_code():
    """The grader's first cell in every kernel imports grader.inkernel.harness, which runs
    grader/__init__: that must not bring the spec registry, the comparators or the judging code
    into the submission's process."""
    code = ("import sys, grader.inkernel.harness\n"
            "print(' '.join(sorted(m for m in sys.modules if m == 'grader' or m.startswith('grader.'))))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == ["grader", "grader.check", "grader.inkernel", "grader.inkernel.adapters",
                                     "grader.inkernel.harness", "grader.wire"]


def test_the_grader_never_imports_nbformat():
    """The grader reads notebooks as JSON. nbformat's import (jsonschema's format checkers build
    a parser) costs about a second of CPU, which every batch paid once when grader.written
    imported course.exercise for its markers. Every grader module is imported here but the CLI
    entry and the hidden-package stand-in, which raises on import."""
    code = ("import importlib, pkgutil, sys, grader\n"
            "for m in pkgutil.walk_packages(grader.__path__, 'grader.'):\n"
            "    if m.name not in ('grader.__main__', 'grader.sandbox.hidden_package'):\n"
            "        importlib.import_module(m.name)\n"
            "import course.exercise\n"
            "print(' '.join(sorted(m for m in ('nbformat', 'jupytext', 'jsonschema') if m in sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == []


def test_the_grader_modules_import_each_other_without_cycles():
    modules = {".".join(p.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__"): p
               for p in GRADER.rglob("*.py")}
    graph = {m: {n for n in imports(p) if n in modules and n != m} for m, p in modules.items()}
    # a package's __init__ runs before its modules: an import of grader.x also imports grader
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(n):] + [n]))
            if n not in state:
                visit(n)
        path.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
