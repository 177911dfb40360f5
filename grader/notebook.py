"""Reading a submitted notebook, and finding submissions, without trusting either.

Only the source of code cells is kept. Outputs, cell tags, cell and notebook metadata and the
kernelspec are ignored, because they could steer an executor (`skip-execution`,
`raises-exception`, a foreign kernel) or claim results that were never computed.

The file itself is hostile input too: it may be a link to the solution or to /dev/zero, a FIFO
that blocks whoever opens it, a link that points to itself, a name that is not UTF-8, or JSON
built to exhaust the parser. So a submission is opened without following a final link and
without blocking, read only if it is a regular file, and only up to a size cap; a link is
followed only to a file in the folder that holds the link (or below it); the JSON's nesting and
numbers are bounded before it is parsed.
"""

from __future__ import annotations

import errno
import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAX_BYTES = 20 * 1024 * 1024  # a notebook of plots is a few MB; far beyond this is not a notebook
MAX_CODE_CELLS = 500
MAX_SOURCE_CHARS = 2_000_000
MAX_DEPTH = 100  # nesting of JSON arrays and objects (a notebook needs about 6)
MAX_DIGITS = 400  # digits of a JSON number (Python refuses integers past 4300 with a ValueError)
MAX_FILES = 10_000  # notebooks found in the folders given
MAX_FOLDER_DEPTH = 32
_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"')
_LONG_NUMBER = re.compile(rb"[0-9]{%d}" % (MAX_DIGITS + 1))


class Malformed(Exception):
    """The file is not a notebook the grader can run; the message says why, for the learner."""


@dataclass(frozen=True)
class Submission:
    path: Path
    code_cells: tuple[str, ...]
    text_cells: tuple[str, ...] = ()  # markdown, where the written answers are (never run)


def _source(cell: dict, index: int) -> str:
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise Malformed(f"cell {index + 1} has a source that is neither text nor a list of lines")


def shown(path: Path | str) -> str:
    """A file name as text that can be printed and written anywhere (bytes that are not UTF-8
    appear as \\xNN)."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


def _inside(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def read_bytes(path: Path, links_stay_in_folder: bool = True) -> bytes:
    """The bytes of a regular file of at most MAX_BYTES, or Malformed with the reason.

    With *links_stay_in_folder*, a symbolic link is followed only to a file in the folder that
    holds the link or below it: never to the solutions, another student's folder or a device."""
    target = str(path)
    if links_stay_in_folder and os.path.islink(path):
        target = os.path.realpath(path)
        if not _inside(target, os.path.realpath(os.path.dirname(os.path.abspath(path)))):
            raise Malformed("the file is a symbolic link to something outside its folder; "
                            "submit the notebook itself")
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)
    if links_stay_in_folder:
        flags |= os.O_NOFOLLOW  # the resolved path: a link here means a loop or a race
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Malformed("the file is a symbolic link that never reaches a file (a loop)") from None
        raise Malformed(f"cannot read the file: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Malformed("it is not a regular file (a folder, a FIFO, a device or a socket)")
        if info.st_size > MAX_BYTES:
            raise Malformed(f"the file is {info.st_size / 2**20:.0f} MB; notebooks over "
                            f"{MAX_BYTES // 2**20} MB are not graded (clear large outputs and save again)")
        chunks, size = [], 0
        while size <= MAX_BYTES:
            chunk = os.read(fd, min(1 << 20, MAX_BYTES + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > MAX_BYTES:
            raise Malformed(f"the file is over {MAX_BYTES // 2**20} MB; it is not graded")
        return b"".join(chunks)
    except OSError as exc:
        raise Malformed(f"cannot read the file: {exc.strerror}") from None
    finally:
        os.close(fd)


def _check_json_bounds(raw: bytes) -> None:
    """Refuse JSON nested deeper than MAX_DEPTH or with a number longer than MAX_DIGITS, before
    a parser spends time or memory on it."""
    skeleton = _STRINGS.sub(b'""', raw)
    if _LONG_NUMBER.search(skeleton):
        raise Malformed(f"the file holds a number with more than {MAX_DIGITS} digits, "
                        "so it is not a notebook saved by Jupyter")
    codes = np.frombuffer(skeleton, dtype=np.uint8)
    brackets = np.flatnonzero((codes == ord("[")) | (codes == ord("{")) | (codes == ord("]")) | (codes == ord("}")))
    if brackets.size:
        steps = np.where((codes[brackets] == ord("[")) | (codes[brackets] == ord("{")), 1, -1).astype(np.int32)
        if int(np.cumsum(steps).max()) > MAX_DEPTH:
            raise Malformed(f"the file nests JSON more than {MAX_DEPTH} levels deep, "
                            "so it is not a notebook saved by Jupyter")


def read_submission(path: Path, links_stay_in_folder: bool = True) -> Submission:
    """Validate the file and return its code cells, or raise Malformed with a clear reason."""
    raw = read_bytes(path, links_stay_in_folder)
    if b"\x00" in raw:
        raise Malformed("the file contains NUL bytes, so it is not a notebook saved by Jupyter")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the file is not UTF-8 text, so it is not a notebook saved by Jupyter") from None
    _check_json_bounds(raw)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise Malformed(f"the file is not valid JSON{where}; was it saved completely?") from None
    if not isinstance(data, dict):
        raise Malformed(f"the file holds a JSON {type(data).__name__}, not a notebook")
    version = data.get("nbformat")
    if version != 4:
        if isinstance(version, int) and version < 4:
            raise Malformed(f"the notebook uses the old format version {version}; "
                            "open it in Jupyter and save it again to convert it to version 4")
        raise Malformed("the file has no notebook format version 4 ('nbformat': 4)")
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise Malformed("the notebook has no list of cells")
    code, text = [], []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise Malformed(f"cell {index + 1} is not a cell")
        if cell.get("cell_type") == "code":
            code.append(_source(cell, index))
        elif cell.get("cell_type") == "markdown":
            text.append(_source(cell, index))
    if not code:
        raise Malformed("the notebook has no code cells, so none of the tasks is answered")
    if len(code) > MAX_CODE_CELLS:
        raise Malformed(f"the notebook has {len(code)} code cells; the limit is {MAX_CODE_CELLS}")
    if sum(len(c) for c in code) > MAX_SOURCE_CHARS:
        raise Malformed("the notebook's code is longer than 2 million characters")
    # the file's size cap bounds the text as well
    return Submission(path=path, code_cells=tuple(code), text_cells=tuple(text))


def _walk(folder: str, depth: int, found: list[str]) -> None:
    """Every entry named *.ipynb below *folder* that is not a folder (links, FIFOs and devices
    included, so that each gets a verdict); links to folders are never followed."""
    if depth > MAX_FOLDER_DEPTH or len(found) >= MAX_FILES:
        return
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        try:
            is_folder = entry.is_dir(follow_symlinks=False)
        except OSError:
            continue
        if is_folder:
            if entry.name != ".ipynb_checkpoints":
                _walk(entry.path, depth + 1, found)
        elif entry.name.endswith(".ipynb") and len(found) < MAX_FILES:
            found.append(entry.path)


def find_submissions(paths: list[Path]) -> list[Path]:
    """The notebooks named on the command line, folders expanded, in a stable order. Paths are
    kept as found, never resolved: a link is judged when it is read."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            _walk(str(path), 0, found)
        else:
            found.append(str(path))
    unique = dict.fromkeys(os.path.abspath(p) for p in found)
    return [Path(p) for p in unique]
