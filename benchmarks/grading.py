"""How fast the grader is: `python -m benchmarks.grading [--submissions 20]` (or `make benchmark`).

Grades a class of copies of exercise 01 (solved and blank notebooks, alternating) with --jobs 1
and --jobs 2 and prints the wall time of each batch, the throughput, and per submission the split
(medians) between executing the notebook in its sandboxed kernel and the grader's own work
(reading, starting the sandbox, calling the tasks, judging, writing). The reference run of the solution
notebook is timed on its own. For scale, it also times a plain nbclient execution of the same
notebook (no sandbox, no grading), and what the sandbox's start costs: a kernel started with
every isolation layer against one started with Landlock and seccomp only. Timings are for the
record only; no test depends on them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SLUG = "01_parameters_vs_hyperparameters"


def make_class(folder: Path, size: int) -> None:
    solved = (REPO / "solutions" / f"{SLUG}.ipynb").read_bytes()
    blank = (REPO / "exercises" / f"{SLUG}.ipynb").read_bytes()
    for i in range(size):
        (folder / f"student_{i:02d}.ipynb").write_bytes(solved if i % 2 == 0 else blank)


def grade(folder: Path, out: Path, jobs: int) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", "grade", SLUG, str(folder), "--out", str(out),
                    "--jobs", str(jobs), "--seed", "1"], check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - began


STARTS = """
import json, sys, time
from grader import kernel
seconds = []
for _ in range(int(sys.argv[1])):
    began = time.monotonic()
    k = kernel.SandboxedKernel(kernel.Limits(), kernel.new_workdir(), time.monotonic() + 120)
    try:
        k.start()
        seconds.append(time.monotonic() - began)
    finally:
        k.stop()
print(json.dumps(seconds))
"""


def kernel_starts(count: int, env: dict | None = None) -> float:
    """Median seconds to start a sandboxed kernel (until it answers), in a fresh process."""
    run = subprocess.run([sys.executable, "-c", STARTS, str(count)], capture_output=True, text=True,
                         cwd=REPO, check=True, env=env)
    return statistics.median(json.loads(run.stdout))


def plain_nbclient(runs: int) -> float:
    """Median seconds to execute the solution notebook with nbclient: no sandbox, no grading."""
    import nbclient
    import nbformat

    seconds = []
    saved = os.dup(2)  # the kernel's warnings about its TCP transport are not the benchmark's
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    try:
        for _ in range(runs):
            notebook = nbformat.read(REPO / "solutions" / f"{SLUG}.ipynb", as_version=4)
            began = time.perf_counter()
            nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
            seconds.append(time.perf_counter() - began)
    finally:
        os.dup2(saved, 2)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=20)
    args = parser.parse_args()
    from grader.sandbox.isolation import probe

    missing = probe().summary()
    print("sandbox layers: " + ("all available" if not missing else f"missing:\n{missing}"))
    plain = plain_nbclient(3)
    print(f"plain nbclient execution of the solution notebook: {plain:.2f} s (median of 3)")
    full = kernel_starts(5)
    inner = kernel_starts(5, os.environ | {"GRADER_BWRAP": "/nonexistent"})
    print(f"sandboxed kernel start: {full:.2f} s with every layer, {inner:.2f} s with Landlock and "
          f"seccomp only (median of 5 each)")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        one = tmp / "one"
        one.mkdir()
        make_class(one, 1)
        reference = grade(one, tmp / "out-one", 1)
        print(f"one submission, reference run included: {reference:.1f} s")
        klass = tmp / "class"
        klass.mkdir()
        make_class(klass, args.submissions)
        batch: dict[int, float] = {}
        for jobs in (1, 2):
            out = tmp / f"out-{jobs}"
            seconds = batch[jobs] = grade(klass, out, jobs)
            runs = [json.loads(p.read_text())["extra_data"]["seconds"] for p in sorted(out.glob("*/results.json"))]
            # Medians: on a shared machine one slow submission must not move the figures.
            median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            overhead = statistics.median(r["total"] - r["notebook"] for r in runs)
            rest = statistics.median(r["total"] - r["notebook"] - r["startup"] - r["tasks"] for r in runs)
            print(f"--jobs {jobs}: {len(runs)} submissions in {seconds:.1f} s ({len(runs) / seconds * 60:.0f} per minute)")
            print(f"  per submission (medians) {median['total']:.2f} s: notebook execution {median['notebook']:.2f} s, "
                  f"grader overhead {overhead:.2f} s (kernel start-up {median['startup']:.2f} s, "
                  f"task calls {median['tasks']:.2f} s, the rest {rest:.2f} s)")
            # Issue 16's target: a submission costs at most half a plain nbclient run of the notebook.
            print(f"  cost per submission against plain nbclient: {seconds / len(runs) / plain:.2f} "
                  f"(wall time of the batch, reference run included, per submission; target <= 0.5)")
        print(f"--jobs 2 speed-up: {batch[1] / batch[2]:.2f}x")


if __name__ == "__main__":
    main()
