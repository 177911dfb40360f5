"""Which submissions of a class one `grade` run grades: all, a shard, or those not graded yet.

Report folders are named over the whole class (submission_names, below), so that every shard and
every resumed run writes a submission's report to the same place.

- `--shard K/N` grades every N-th submission, starting with the K-th, in the class's stable
  order: N machines, or the N tasks of a scheduler's array job, split a class between them.
- `--resume` skips a submission whose report in `--out` was written for the same exercise, the
  same seed and the same notebook bytes (its SHA-256). Without `--seed` it takes the seed those
  reports share. Run once over the whole class after the shards, it grades what is missing and
  writes the class's gradebook and written-answer review from every report.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from .notebook import Malformed, read_bytes
from .spec import Exercise


# What the grader writes beside the submissions' folders: the gradebook, the written answers
RESERVED_NAMES = {"gradebook.csv", "written"}


def submission_names(paths: list[Path]) -> list[str]:
    """A folder name per submission: the file's stem in safe characters, made unique in a stable
    way (case-insensitively, for file systems that fold case), never a name the grader uses."""
    names: list[str] = []
    taken: set[str] = set(RESERVED_NAMES)
    for path in paths:
        stem = os.fsencode(path.name).decode("utf-8", "replace")
        stem = stem[: -len(".ipynb")] if stem.endswith(".ipynb") else stem
        base = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._-")[:80] or "submission"
        name, n = base, 2
        while name.casefold() in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name.casefold())
        names.append(name)
    return names


class PlanError(Exception):
    """A usage error in --shard or --resume; the message says what to change."""


@dataclass
class Plan:
    paths: list[Path]  # the whole class, in its stable order
    names: list[str]  # their report folders' names, chosen over the whole class
    todo: list[int] = field(default_factory=list)  # indices to grade in this run
    kept: dict[str, dict] = field(default_factory=dict)  # name -> results.json kept from earlier
    digests: dict[str, str | None] = field(default_factory=dict)  # name -> notebook SHA-256
    seed: int | None = None
    shard: tuple[int, int] | None = None

    @property
    def whole_class(self) -> bool:
        return self.shard is None


def parse_shard(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise PlanError(f"--shard takes K/N with 1 <= K <= N, such as 2/8, not {text!r}")
    return int(match.group(1)), int(match.group(2))


def digest(path: Path) -> str | None:
    """The notebook's SHA-256, read as carefully as grading reads it; None if it cannot be read."""
    try:
        return hashlib.sha256(read_bytes(path)).hexdigest()
    except (Malformed, OSError):
        return None


def _earlier(out: Path, name: str) -> dict | None:
    try:
        data = json.loads((out / name / "results.json").read_text(encoding="utf-8"))
        return data if isinstance(data.get("extra_data"), dict) else None
    except (OSError, ValueError, AttributeError):
        return None


def plan(exercise: Exercise, paths: list[Path], out: Path, seed: int | None,
         resume: bool = False, shard: str | None = None) -> Plan:
    result = Plan(paths, submission_names(paths), seed=seed, shard=shard and parse_shard(shard))
    if result.shard and seed is None:
        raise PlanError("--shard needs --seed, so that every shard draws the same hidden inputs")
    indices = list(range(len(paths)))
    if result.shard:
        k, n = result.shard
        indices = [i for i in indices if i % n == k - 1]
    # Only this run's slice is read: another shard's files are that shard's work.
    result.digests = {result.names[i]: digest(paths[i]) for i in indices}
    if not resume:
        result.todo = indices
        return result
    earlier = {result.names[i]: data for i in indices if (data := _earlier(out, result.names[i])) is not None
               and data["extra_data"].get("exercise") == exercise.slug}
    if seed is None:
        seeds = {data["extra_data"].get("seed") for data in earlier.values()}
        if len(seeds) > 1:
            raise PlanError(f"the reports in {out} were graded with different seeds "
                            f"({', '.join(map(str, sorted(seeds)))}): give --seed")
        result.seed = seeds.pop() if seeds else None
    for i in indices:
        name = result.names[i]
        data = earlier.get(name)
        same = (data is not None and result.digests[name] is not None
                and data["extra_data"].get("seed") == result.seed
                and data["extra_data"].get("notebook_sha256") == result.digests[name])
        if same:
            result.kept[name] = data
        else:
            result.todo.append(i)
    return result
