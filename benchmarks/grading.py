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
0.5. It is printed twice: in wall time, what an instructor waits, and in CPU time (the grader's
process tree against the client's and its kernel's), what a busy machine pays whatever the
load, since there the parallel starts no longer hide any cost. Each batch also prints the CPU of
a submission beyond what a batch pays once (a batch of one cycle of the class, subtracted). It
also times a sandboxed kernel's start: forked from the fork server, started by the launcher, and
started with Landlock and seccomp only. `--large N` also grades a class of N copies with
--jobs 2. Timings are for the record only; no test depends on them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
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


def children_cpu() -> float:
    """CPU seconds of every finished process this one waited for, and theirs in turn."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def grade(folder: Path, out: Path, jobs: int) -> tuple[float, float]:
    """The batch's wall time, and the CPU time of the grader and all its sandboxes."""
    began, cpu = time.perf_counter(), children_cpu()
    subprocess.run([sys.executable, "-m", "grader", "grade", SLUG, str(folder), "--out", str(out),
                    "--jobs", str(jobs), "--seed", "1"], check=True, capture_output=True, cwd=REPO)
    return time.perf_counter() - began, children_cpu() - cpu


STARTS = """
import json, shutil, sys, time
from grader import kernel
seconds = []
limits = kernel.Limits(fork_server=sys.argv[2] == "fork")
for _ in range(int(sys.argv[1])):
    began = time.monotonic()
    k = kernel.SandboxedKernel(limits, kernel.new_workdir(), time.monotonic() + 120)
    try:
        k.start()
        seconds.append(time.monotonic() - began)
    finally:
        k.stop()
        shutil.rmtree(k.workdir, ignore_errors=True)
print(json.dumps(seconds))
"""


def kernel_starts(count: int, how: str, env: dict | None = None) -> float:
    """Median seconds to start a sandboxed kernel (until it answers), in a fresh process; *how*
    is "fork" (from the fork server, started before the first) or "launch"."""
    run = subprocess.run([sys.executable, "-c", STARTS, str(count + (how == "fork")), how],
                         capture_output=True, text=True, cwd=REPO, check=True, env=env)
    return statistics.median(json.loads(run.stdout)[how == "fork":])  # not the one that started the server


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


PLAIN_RUNS = """
import sys
from pathlib import Path
import nbclient, nbformat  # imported in the run without notebooks too, so that it is taken off
from benchmarks.grading import plain_nbclient
if int(sys.argv[2]):
    plain_nbclient(Path(sys.argv[1]).read_bytes(), int(sys.argv[2]))
"""


def plain_cpu(kind: str, folder: Path, runs: int = 4) -> float:
    """CPU seconds of one plain nbclient execution (the client's and its kernel's), measured as
    the grader's batches are: a process and everything it waited for. The client's own imports,
    paid once, are taken off, as a batch pays its own once for all its submissions."""
    per_notebook = []
    for i, source in enumerate(notebooks(kind)):
        path = folder / f"plain-{kind}-{i}.ipynb"
        path.write_bytes(source)
        used = []
        for count in (0, runs):
            before = children_cpu()
            subprocess.run([sys.executable, "-c", PLAIN_RUNS, str(path), str(count)], check=True,
                           capture_output=True, cwd=REPO)
            used.append(children_cpu() - before)
        per_notebook.append((used[1] - used[0]) / runs)
    return statistics.mean(per_notebook)


def report_batch(out: Path, seconds: float, cpu: float, plain: tuple[float, float],
                 jobs: int) -> tuple[float, float]:
    """Print one batch's figures; returns its cost per submission against plain nbclient, in
    wall time and in CPU time."""
    runs = [json.loads(p.read_text())["extra_data"]["seconds"] for p in sorted(out.glob("*/results.json"))]
    # Medians: on a shared machine one slow submission must not move the figures.
    median = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    overhead = statistics.median(r["total"] - r["notebook"] for r in runs)
    rest = statistics.median(r["total"] - r["notebook"] - r["startup"] - r["tasks"] for r in runs)
    ratio, cpu_ratio = seconds / len(runs) / plain[0], cpu / len(runs) / plain[1]
    print(f"  --jobs {jobs}: {len(runs)} submissions in {seconds:.1f} s ({len(runs) / seconds * 60:.0f} per minute), "
          f"{seconds / len(runs):.2f} s each: {ratio:.2f} of plain nbclient; "
          f"CPU {cpu / len(runs):.2f} s each: {cpu_ratio:.2f} of plain's")
    print(f"    per submission (medians) {median['total']:.2f} s: notebook execution {median['notebook']:.2f} s, "
          f"grader overhead {overhead:.2f} s (waiting for its kernel {median['startup']:.2f} s, "
          f"task calls {median['tasks']:.2f} s, the rest {rest:.2f} s)")
    return ratio, cpu_ratio


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
    forked, launched = kernel_starts(5, "fork"), kernel_starts(5, "launch")
    inner = kernel_starts(5, "launch", os.environ | {"GRADER_BWRAP": "/nonexistent"})
    print(f"sandboxed kernel start (median of 5 each): {forked:.2f} s forked from the fork server, "
          f"{launched:.2f} s started by the launcher, with every layer; {inner:.2f} s with Landlock "
          "and seccomp only")
    ratios: dict[tuple[str, int], tuple[float, float]] = {}
    batch: dict[tuple[str, int], float] = {}
    plain: dict[str, list[float]] = {kind: [] for kind in classes}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        one = tmp / "one"
        one.mkdir()
        make_class(one, 1)
        reference, _ = grade(one, tmp / "out-one", 1)
        print(f"one submission, reference run included: {reference:.1f} s")
        plain_cpus = {kind: plain_cpu(kind, tmp) for kind in classes}
        print("plain nbclient's CPU per notebook: " + ", ".join(f"{kind} {cpu:.2f} s" for kind, cpu in plain_cpus.items()))
        # A batch of one cycle of each class (one notebook, or the solved and the blank one): what
        # a batch costs once (the grader's start, the fork server's imports, the reference run).
        smallest = {}
        for kind in classes:
            klass = tmp / f"{kind}-small"
            klass.mkdir()
            make_class(klass, len(notebooks(kind)), kind)
            smallest[kind] = (len(notebooks(kind)), grade(klass, tmp / f"out-{kind}-small", 1)[1])
        for kind in classes:
            klass = tmp / kind
            klass.mkdir()
            make_class(klass, args.submissions, kind)
            plain[kind].append(plain_per_submission(kind))
        for jobs in (1, 2):
            for kind in classes:  # side by side: both classes, and their plain runs, under the same load
                out = tmp / f"out-{kind}-{jobs}"
                seconds, cpu = grade(tmp / kind, out, jobs)
                batch[kind, jobs] = seconds
                plain[kind].append(plain_per_submission(kind))  # plain runs before and after each batch
                around = statistics.median(plain[kind][-2:])
                print(f"class {kind} (plain nbclient around this batch: {around:.2f} s per notebook):")
                ratios[kind, jobs] = report_batch(out, seconds, cpu, (around, plain_cpus[kind]), jobs)
                size, small_cpu = smallest[kind]
                extra = (cpu - small_cpu) / (args.submissions - size)
                print(f"    each submission beyond the batch's own costs ({small_cpu:.2f} s of CPU for {size}): "
                      f"{extra:.2f} s of CPU, {extra / plain_cpus[kind]:.2f} of plain's")
        if args.large:
            klass = tmp / "large"
            klass.mkdir()
            make_class(klass, args.large)
            seconds, cpu = grade(klass, tmp / "out-large", 2)
            print(f"a class of {args.large} copies with --jobs 2: {seconds:.1f} s ({seconds / 60:.1f} min, "
                  f"{seconds / args.large:.2f} s and {cpu / args.large:.2f} s of CPU per submission)")
    print("plain nbclient per notebook, all runs (median): "
          + ", ".join(f"{kind} {statistics.median(runs):.2f} s" for kind, runs in plain.items()))
    # Issue 16's target: a submission costs at most half a plain nbclient run of the notebook.
    # Wall time is what an instructor waits; CPU time is what a busy machine pays, whatever the load.
    print("cost per submission against plain nbclient (reference run included; plain runs just "
          "before and after each batch; target <= 0.5), wall time / CPU time:")
    for kind in classes:
        print(f"  {kind:<8} --jobs 1: {ratios[kind, 1][0]:.2f} / {ratios[kind, 1][1]:.2f}   "
              f"--jobs 2: {ratios[kind, 2][0]:.2f} / {ratios[kind, 2][1]:.2f}   "
              f"--jobs 2 speed-up: {batch[kind, 1] / batch[kind, 2]:.2f}x")
    print(f"load average at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
