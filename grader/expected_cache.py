"""The expected values of one reference run, kept for the next batch with the same inputs.

A batch runs the solution notebook once, on every case drawn from its seed, to get the expected
values. Grading the same class again (--resume after an interruption, the shards of a class, a
re-run after a fix to the feedback) would run it again for the same answers. This keeps them in
a file named by a hash of everything that decides them:

- the solution notebook's bytes and the exercise's slug and hidden packages;
- per task, its name, its adapter's name and the cases' arguments as tagged JSON (so the seed,
  and any change to how cases are drawn);
- the grader's own code (every .py file of the package, subpackages included: the harness, the
  adapters and the wire format decide how a value comes back);
- the installed packages and their versions, the Python version and the machine (numpy's
  kernels and TensorFlow's thread pools change the last bits of some answers).

Anything else changes the key, and a new key means a fresh reference run. A file that cannot be
read back exactly is ignored and replaced. Only the grader writes these files, from the
solution's run: no submission's output ever reaches them.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import wire

if TYPE_CHECKING:
    from .spec import CaseSet, Exercise

PACKAGE = Path(__file__).resolve().parent
FORMAT = 1  # of the cache file; a new format never reads an old file


def _name_and_version(dist: importlib.metadata.Distribution) -> str | None:
    """"name==version" from a distribution's metadata headers. Only those two are read: parsing
    the whole file as an e-mail, as `Distribution.metadata` does on every access, cost a tenth of
    a second of CPU per batch for a few hundred packages, twice (reference.expected_values)."""
    text = dist.read_text("METADATA") or dist.read_text("PKG-INFO") or ""
    fields = {}
    for line in text.splitlines():
        if not line:  # the headers end at the first empty line; the description follows
            break
        key, _, value = line.partition(":")
        if key in ("Name", "Version"):
            fields.setdefault(key, value.strip())
    return f"{fields['Name']}=={fields.get('Version')}" if fields.get("Name") else None


def _environment() -> bytes:
    """The interpreter, the machine and every installed distribution with its version."""
    dists = sorted({d for d in map(_name_and_version, importlib.metadata.distributions()) if d})
    return json.dumps([sys.version, platform.platform(), platform.machine(), os.cpu_count(), dists]).encode()


def _grader_code() -> bytes:
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.digest()


def cache_key(exercise: Exercise, case_sets: list[CaseSet], solution: bytes) -> str:
    """A hash of everything the expected values of this reference run depend on."""
    digest = hashlib.sha256()
    for part in (str(FORMAT).encode(), exercise.slug.encode(), json.dumps(sorted(exercise.hidden_modules)).encode(),
                 solution, _grader_code(), _environment()):
        digest.update(hashlib.sha256(part).digest())
    for case_set in case_sets:
        task = case_set.task
        cases = wire.dumps([wire.encode(args) for args in case_set.all_args])
        for part in (task.name, repr(task.call), cases):
            digest.update(hashlib.sha256(part.encode()).digest())
    return digest.hexdigest()


def cache_file(folder: Path, key: str) -> Path:
    return folder / f"expected-{key}.json"


def load(folder: Path, key: str, case_sets: list[CaseSet]) -> dict[str, list[Any]] | None:
    """The expected values stored under *key*, or None when there are none to trust."""
    try:
        stored = wire.loads(cache_file(folder, key).read_text())
        if stored.get("format") != FORMAT or stored.get("key") != key:
            return None
        expected = {}
        for case_set in case_sets:
            values = [wire.decode(v) for v in stored["expected"][case_set.task.name]]
            if len(values) != len(case_set.all_args) or any(isinstance(v, wire.Unsupported) for v in values):
                return None
            expected[case_set.task.name] = values
        return expected
    except (OSError, ValueError, KeyError, TypeError, AttributeError, wire.WireError):
        return None


def store(folder: Path, key: str, expected: dict[str, list[Any]]) -> None:
    """Keep the expected values under *key*; a cache that cannot be written is only a slower next
    batch, never a failed one."""
    payload = {"format": FORMAT, "key": key,
               "expected": {name: [wire.encode(v) for v in values] for name, values in expected.items()}}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=folder, suffix=".tmp", delete=False) as handle:
            handle.write(wire.dumps(payload))
        os.replace(handle.name, cache_file(folder, key))
    except (OSError, ValueError, wire.WireError):
        try:
            os.unlink(handle.name)
        except (OSError, NameError, UnboundLocalError):
            pass
