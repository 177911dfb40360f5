"""Stands in for a package that an exercise hides while it is graded (Exercise.hidden_modules).

The sandbox mounts this file as the package's `__init__.py`, over an otherwise empty folder, so
that `import keras` fails at once with a reason instead of yielding an empty namespace package.
"""

raise ModuleNotFoundError(
    f"{__name__} is not available while this exercise is graded: each graded function must "
    "compute its answer itself, not by calling the library it mirrors",
    name=__name__,
)
