"""How fast the grader is: `python -m benchmarks.grading [--submissions 20]` (or `make benchmark`).

Grades two classes of exercise 01 with --jobs 1 and --jobs 2, side by side in one run:

- "minimal": submissions holding only the graded functions (and numpy's import), where starting
  the sandboxed kernel is nearly all the work;
- "copies": copies of the solved and of the blank notebook, alternating.

For each batch it prints the wall time, the throughput, and per submission the split (medians)
between executing the notebook in its sandboxed kernel and the grader's own work (waiting for a
sandbox, calling the tasks, judging, writing). Issue 16's figure is a submission's cost (the
batch's wall time, reference run included, per submission) against a plain nbclient execution
of the same notebooks (no sandbox, no grading, every cell run as the grader runs them: errors do
not stop it), run just before and just after each batch so that both see the same load: at most
0.5. It also times what the sandbox's start costs: a kernel started with every isolation layer
against one started with Landlock and seccomp only. `--large N` also grades a class of N copies
with --jobs 2. Timings are for the record only; no test depends on them.
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


def minimal_notebook() -> bytes:
    """The solution reduced to numpy's import and the cells that define the graded functions."""
    import nbformat
    from grader.spec import exercises

    solution = nbformat.read(REPO / "solutions" / f"{SLUG}.ipynb", as_version=4)
    tasks = [task.name for task in exercises()[SLUG].tasks]
    cells = [nbformat.v4.new_code_cell("import numpy as np")]
    cells += [nbformat.v4.new_code_cell(cell.source) for cell in solution.cells
              if cell.cell_type == "code" and any(f"def {name}(" in cell.source for name in tasks)]
    assert len(cells) == len(tasks) + 1, "a graded function of exercise 01 has no cell of its own"
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells, metadata=solution.metadata)).encode()


def notebooks(kind: str) -> list[bytes]:
    """The notebooks of one class, in the order its submissions cycle through them."""
    if kind == "minimal":
        return [minimal_notebook()]
    return [(REPO / "solutions" / f"{SLUG}.ipynb").read_bytes(), (REPO / "exercises" / f"{SLUG}.ipynb").read_bytes()]


def make_class(folder: Path, size: int, kind: str = "copies") -> None:
    cycle = notebooks(kind)
    for i in range(size):
        (folder / f"student_{i:03d}.ipynb").write_bytes(cycle[i % len(cycle)])


def grade(folder: Path, out: Path, jobs: int) -> float:
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", "grade", SLUG, str(folder), "--out", str(out),
                    "--jobs", str(jobs), "--seed", "1"], check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - began


STARTS = """
import json, shutil, sys, time
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
        shutil.rmtree(k.workdir, ignore_errors=True)
print(json.dumps(seconds))
"""


def kernel_starts(count: int, env: dict | None = None) -> float:
    """Median seconds to start a sandboxed kernel (until it answers), in a fresh process."""
    run = subprocess.run([sys.executable, "-c", STARTS, str(count)], capture_output=True, text=True,
                         cwd=REPO, check=True, env=env)
    return statistics.median(json.loads(run.stdout))


def plain_nbclient(source: bytes, runs: int) -> float:
    """Median seconds to execute a notebook with nbclient: no sandbox, no grading. Like the
    grader, it runs every cell, whatever the cells before raised."""
    import nbclient
    import nbformat

    seconds = []
    saved = os.dup(2)  # the kernel's warnings about its TCP transport are not the benchmark's
    os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
    try:
        for _ in range(runs):
            notebook = nbformat.reads(source.decode(), as_version=4)
            began = time.perf_counter()
            nbclient.NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                                    resources={"metadata": {"path": str(REPO)}}).execute()
            seconds.append(time.perf_counter() - began)
    finally:
        os.dup2(saved, 2)
    return statistics.median(seconds)


def report_batch(out: Path, seconds: float, plain: float, jobs: int) -> float:
    """Print one batch's figures; returns its cost per submission against plain nbclient."""
    runs = [json.loads(p.read_text())["extra_data"]["seconds"] for p in sorted(out.glob("*/results.json"))]
    # Medians: on a shared machine one slow submission must not move the figures.
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    overhead = statistics.median(r["total"] - r["notebook"] for r in runs)
    rest = statistics.median(r["total"] - r["notebook"] - r["startup"] - r["tasks"] for r in runs)
    ratio = seconds / len(runs) / plain
    print(f"  --jobs {jobs}: {len(runs)} submissions in {seconds:.1f} s ({len(runs) / seconds * 60:.0f} per minute), "
          f"{seconds / len(runs):.2f} s each: {ratio:.2f} of plain nbclient")
    print(f"    per submission (medians) {median['total']:.2f} s: notebook execution {median['notebook']:.2f} s, "
          f"grader overhead {overhead:.2f} s (waiting for its kernel {median['startup']:.2f} s, "
          f"task calls {median['tasks']:.2f} s, the rest {rest:.2f} s)")
    return ratio


def plain_per_submission(kind: str) -> float:
    """A class's plain figure: the mean over the notebooks it cycles through, one run of each."""
    return statistics.mean(plain_nbclient(nb, 1) for nb in notebooks(kind))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=20, help="submissions per class (default 20)")
    parser.add_argument("--large", type=int, default=0, help="also grade a class of N copies with --jobs 2")
    args = parser.parse_args()
    from grader.sandbox.isolation import probe

    missing = probe().summary()
    print("sandbox layers: " + ("all available" if not missing else f"missing:\n{missing}"))
    print(f"load average at the start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    classes = ("minimal", "copies")
    full = kernel_starts(5)
    inner = kernel_starts(5, os.environ | {"GRADER_BWRAP": "/nonexistent"})
    print(f"sandboxed kernel start: {full:.2f} s with every layer, {inner:.2f} s with Landlock and "
          f"seccomp only (median of 5 each)")
    ratios: dict[tuple[str, int], float] = {}
    batch: dict[tuple[str, int], float] = {}
    plain: dict[str, list[float]] = {kind: [] for kind in classes}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        one = tmp / "one"
        one.mkdir()
        make_class(one, 1)
        reference = grade(one, tmp / "out-one", 1)
        print(f"one submission, reference run included: {reference:.1f} s")
        for kind in classes:
            klass = tmp / kind
            klass.mkdir()
            make_class(klass, args.submissions, kind)
            plain[kind].append(plain_per_submission(kind))
        for jobs in (1, 2):
            for kind in classes:  # side by side: both classes, and their plain runs, under the same load
                out = tmp / f"out-{kind}-{jobs}"
                seconds = batch[kind, jobs] = grade(tmp / kind, out, jobs)
                plain[kind].append(plain_per_submission(kind))  # plain runs before and after each batch
                around = statistics.median(plain[kind][-2:])
                print(f"class {kind} (plain nbclient around this batch: {around:.2f} s per notebook):")
                ratios[kind, jobs] = report_batch(out, seconds, around, jobs)
        if args.large:
            klass = tmp / "large"
            klass.mkdir()
            make_class(klass, args.large)
            seconds = grade(klass, tmp / "out-large", 2)
            print(f"a class of {args.large} copies with --jobs 2: {seconds:.1f} s ({seconds / 60:.1f} min, "
                  f"{seconds / args.large:.2f} s per submission)")
    print("plain nbclient per notebook, all runs (median): "
          + ", ".join(f"{kind} {statistics.median(runs):.2f} s" for kind, runs in plain.items()))
    # Issue 16's target: a submission costs at most half a plain nbclient run of the notebook.
    print("cost per submission against plain nbclient (the batch's wall time, reference run included, "
          "against plain runs just before and after it; target <= 0.5):")
    for kind in classes:
        print(f"  {kind:<8} --jobs 1: {ratios[kind, 1]:.2f}   --jobs 2: {ratios[kind, 2]:.2f}   "
              f"--jobs 2 speed-up: {batch[kind, 1] / batch[kind, 2]:.2f}x")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
