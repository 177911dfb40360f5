"""The course's autograder.

Learners call `check("task", fn)` in an exercise notebook for feedback on public cases.
Instructors run `python -m grader grade EXERCISE SUBMISSION... --out DIR` (see grader.cli).
"""

from .check import check

__all__ = ["check"]
__version__ = "0.1.0"
