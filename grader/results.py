"""The result model: what grading one submission produced, as the reporters read it.

`grader.grade` fills these in; `grader.report`, `grader.written` and the command line only read
them. Every line in `TaskResult.lines` and `SubmissionResult.notes` is safe to show the learner:
hidden cases appear there only as counted reasons (grader.verdict.hidden_case_lines).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .spec import Exercise


@dataclass
class TaskResult:
    name: str
    max_points: float
    points: float = 0.0
    public_passed: int = 0
    public_total: int = 0
    hidden_passed: int = 0
    hidden_total: int = 0
    lines: list[str] = field(default_factory=list)  # safe to show the learner
    hint: str = ""

    @property
    def passed(self) -> bool:
        return self.points >= self.max_points


@dataclass
class Timings:
    """Where a submission's grading time went, in seconds."""
    startup: float = 0.0  # starting sandboxed kernels
    notebook: float = 0.0  # executing the submission's own cells
    tasks: float = 0.0  # calling its functions on the cases

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in vars(self).items()}


@dataclass
class SubmissionResult:
    path: Path
    name: str
    exercise: Exercise
    seed: int
    tasks: list[TaskResult]
    malformed: str | None = None
    notes: list[str] = field(default_factory=list)  # about the run: errors, crashes, limits
    confinement: str | None = None  # the guarantees the sandbox lacked, if any
    timings: Timings = field(default_factory=Timings)
    total_seconds: float = 0.0

    @property
    def score(self) -> float:
        return round(sum(t.points for t in self.tasks), 4)
