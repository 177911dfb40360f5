"""The sandbox a submission runs in: the launcher and the policy it applies.

- `launcher.py` is a plain script (`python -I -S grader/sandbox/launcher.py CONFIG`), not a module
  of this package: it runs inside the sandbox on the standard library alone and loads its
  siblings `landlock` and `seccomp` by path, so that importing `grader` (numpy, the exercise
  specs) never slows a sandbox's start.
- `isolation` probes which layers this machine offers and builds bubblewrap's command line;
  `cgroups` bounds memory, processes and CPU from outside; `landlock` and `seccomp` confine the
  launcher and its children from inside; `hidden_package.py` is mounted over the packages an
  exercise hides.

The grader's process imports `isolation` (and through it the others) from grader.kernel; nothing
here imports the rest of `grader`.
"""
