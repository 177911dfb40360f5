"""The environment the course promises: which Pythons, and the same numbers on any core count."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import tomllib

from course.supported_python import SUPPORTED, problem
from tests.helpers import REPO


def test_supported_pythons_pass_and_others_get_one_clear_sentence():
    assert problem((3, 11)) is None and problem((3, 13)) is None
    for version in [(3, 10), (3, 14)]:
        message = problem(version)
        assert f"Python {version[0]}.{version[1]}" in message and "3.11 to 3.13" in message
        assert "PYTHON=" in message  # says what to do about it


def test_the_check_runs_as_a_script_before_any_package_is_installed():
    process = subprocess.run([sys.executable, "-I", str(REPO / "course" / "supported_python.py")],
                             capture_output=True, text=True)
    assert process.returncode == 0, process.stderr


def test_pyproject_and_readme_state_the_same_range():
    low, high = SUPPORTED
    requires = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["requires-python"]
    assert requires == f">={low[0]}.{low[1]},<{high[0]}.{high[1] + 1}"
    readme = (REPO / "README.md").read_text()
    assert re.search(rf"Python {low[0]}\.{low[1]} to {high[0]}\.{high[1]}", readme)


def test_pinned_thread_pools_are_what_tensorflow_and_the_blas_use():
    """pin_thread_pools() overrides TF_NUM_*_THREADS and OPENBLAS_NUM_THREADS (an 8-core laptop)."""
    code = ("import os; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
            "import numpy, tensorflow as tf, threadpoolctl\n"
            "from course.setup import pin_thread_pools\n"
            "pin_thread_pools()\n"
            "tf.constant(1.0) + 1.0  # TensorFlow fixes its pools at its first operation\n"
            "print(tf.config.threading.get_intra_op_parallelism_threads(),\n"
            "      tf.config.threading.get_inter_op_parallelism_threads(),\n"
            "      {p['num_threads'] for p in threadpoolctl.threadpool_info()})\n")
    environment = {"TF_NUM_INTRAOP_THREADS": "8", "TF_NUM_INTEROP_THREADS": "8",
                   "OPENBLAS_NUM_THREADS": "8", "OMP_NUM_THREADS": "8"}
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                             env=os.environ | environment, timeout=300)
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.split("\n")[-2] == "1 1 {1}"
