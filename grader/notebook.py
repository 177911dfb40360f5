"""Reading a submitted notebook without trusting it.

Only the source of code cells is kept. Outputs, cell tags, cell and notebook metadata and the
kernelspec are ignored, because they could steer an executor (`skip-execution`,
`raises-exception`, a foreign kernel) or claim results that were never computed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 20 * 1024 * 1024  # a notebook of plots is a few MB; far beyond this is not a notebook
MAX_CODE_CELLS = 500
MAX_SOURCE_CHARS = 2_000_000


class Malformed(Exception):
    """The file is not a notebook the grader can run; the message says why, for the learner."""


@dataclass(frozen=True)
class Submission:
    path: Path
    code_cells: tuple[str, ...]


def _source(cell: dict, index: int) -> str:
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(s, str) for s in source):
        return "".join(source)
    if isinstance(source, str):
        return source
    raise Malformed(f"cell {index + 1} has a source that is neither text nor a list of lines")


def read_submission(path: Path) -> Submission:
    """Validate the file and return its code cells, or raise Malformed with a clear reason."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise Malformed(f"cannot read the file: {exc.strerror}") from None
    if size > MAX_BYTES:
        raise Malformed(f"the file is {size / 2**20:.0f} MB; notebooks over {MAX_BYTES // 2**20} MB "
                        "are not graded (clear large outputs and save again)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise Malformed(f"cannot read the file: {exc.strerror}") from None
    if b"\x00" in raw:
        raise Malformed("the file contains NUL bytes, so it is not a notebook saved by Jupyter")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed("the file is not UTF-8 text, so it is not a notebook saved by Jupyter") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
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
    code = []
    for index, cell in enumerate(cells):
        if not isinstance(cell, dict):
            raise Malformed(f"cell {index + 1} is not a cell")
        if cell.get("cell_type") == "code":
            code.append(_source(cell, index))
    if not code:
        raise Malformed("the notebook has no code cells, so none of the tasks is answered")
    if len(code) > MAX_CODE_CELLS:
        raise Malformed(f"the notebook has {len(code)} code cells; the limit is {MAX_CODE_CELLS}")
    if sum(len(c) for c in code) > MAX_SOURCE_CHARS:
        raise Malformed("the notebook's code is longer than 2 million characters")
    return Submission(path=path, code_cells=tuple(code))


def find_submissions(paths: list[Path]) -> list[Path]:
    """The notebooks named on the command line, folders expanded, in a stable order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*.ipynb")
                                if ".ipynb_checkpoints" not in p.parts))
        else:
            found.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique
