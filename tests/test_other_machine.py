"""The stored outputs hold on another machine, not only on the one that executed the notebooks.

nbval (the main run) compares a fresh run with the stored outputs on *this* machine. A reader's
laptop or a CI runner of another kind differs in its core count and its CPU's vector units, and
either can change the last bits of a sum. A result at the edge of stability amplifies those bits
until a printed digit or a curve moves. So every book and solution notebook runs through nbval a
second time here, in a kernel that looks like another machine:

- 8 threads in every pool (TensorFlow, OpenBLAS, OpenMP), as on an 8-core laptop;
- numpy's AVX-512 loops switched off, as on a CPU with AVX2 only.

OpenBLAS's kernel is the third difference between machines, but it is not emulated here: forcing
an older kernel (OPENBLAS_CORETYPE) computes wrong results on some processors. The README's
contributing section shows how to try it by hand.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, notebook_sources

OTHER_MACHINE = {
    "TF_NUM_INTRAOP_THREADS": "8",
    "TF_NUM_INTEROP_THREADS": "8",
    "OPENBLAS_NUM_THREADS": "8",
    "OMP_NUM_THREADS": "8",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
}

# The notebooks whose outputs the book shows (exercises are stored without outputs).
STORED = [md.with_suffix(".ipynb") for md in notebook_sources() if md.parent.name in ("book", "solutions")]


def nbval_command(notebook: Path) -> list[str]:
    """nbval on one notebook, with the main run's options but none of its plugins' extras."""
    return [sys.executable, "-m", "pytest", str(notebook), "-q", "--no-header", "-o", "addopts=",
            "-p", "no:cacheprovider", "-p", "tests.nbval_plugin", "--nbval", "--nbval-current-env",
            "--nbval-cell-timeout=300", f"--nbval-sanitize-with={REPO / 'tests/nbval_sanitize.cfg'}"]


@pytest.mark.parametrize("notebook", STORED, ids=[p.relative_to(REPO).with_suffix("").as_posix() for p in STORED])
def test_outputs_hold_on_another_machine(notebook: Path):
    process = subprocess.run(nbval_command(notebook), cwd=REPO, env=os.environ | OTHER_MACHINE,
                             capture_output=True, text=True, timeout=900)
    report = process.stdout[-6000:]
    assert process.returncode == 0, (
        f"{notebook.relative_to(REPO)} stores outputs that change on another machine "
        f"({', '.join(f'{k}={v}' for k, v in OTHER_MACHINE.items())}). A number or curve at the "
        f"edge of stability is not a claim: state it robustly (see the README).\n{report}")
    assert " passed" in report and "skipped" not in report, report
