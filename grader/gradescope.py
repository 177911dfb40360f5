"""Running the grader as a Gradescope autograder.

`python -m grader bundle EXERCISE --out autograder.zip` writes the zip to upload as a
"programming assignment" autograder: the grader, the course helpers, the pinned requirements, the
exercise's solution notebook, and Gradescope's two scripts. Gradescope runs `setup.sh` once when it
builds the image and `run_autograder` for every submission; that calls
`python -m grader gradescope EXERCISE`, which grades the one notebook in
/autograder/submission and writes /autograder/results/results.json.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder image (Ubuntu 22.04 or 24.04 base).
set -euo pipefail
cd /autograder/source
apt-get update
apt-get install -y --no-install-recommends python3.11 python3.11-venv \\
  || apt-get install -y --no-install-recommends python3 python3-venv
# The grader's sandbox: namespaces where the container allows them (see `check-sandbox` below).
apt-get install -y --no-install-recommends bubblewrap
PYTHON=$(command -v python3.11 || command -v python3)
"$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "the course needs Python 3.11 or newer"'
"$PYTHON" -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install -r requirements.txt
/autograder/venv/bin/pip install --no-deps -e .
# Submissions run as unprivileged users: the solution is for root (the grader) only.
chmod -R go-rwx /autograder/source/solutions
# What the sandbox can use in this image, for the build log (exit status 4: a layer is missing).
/autograder/venv/bin/python -m grader check-sandbox || true
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; results go to /autograder/results/results.json.
cd /autograder/source
exec /autograder/venv/bin/python -m grader gradescope {slug} --solutions /autograder/source/solutions
"""

PACKAGES = ("grader", "course")
FILES = ("requirements.txt", "pyproject.toml", "README.md")


def bundle(slug: str, repo: Path, out: Path) -> list[str]:
    """Write the autograder zip for one exercise; returns the names it holds."""
    names: list[str] = []
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        def add_text(name: str, text: str, mode: int = 0o644) -> None:
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, text)
            names.append(name)

        add_text("setup.sh", SETUP_SH, 0o755)
        add_text("run_autograder", RUN_AUTOGRADER.format(slug=slug), 0o755)
        for name in FILES:
            archive.write(repo / name, name)
            names.append(name)
        for package in PACKAGES:
            for path in sorted((repo / package).rglob("*.py")):
                name = path.relative_to(repo).as_posix()
                archive.write(path, name)
                names.append(name)
        solution = f"solutions/{slug}.ipynb"
        archive.write(repo / solution, solution)
        names.append(solution)
    return names


def pick_notebook(folder: Path, slug: str) -> tuple[Path | None, str]:
    """The submitted notebook to grade, and a note when the choice was not obvious. Links are
    not followed here; reading the chosen file refuses one that leaves its folder."""
    from .notebook import find_submissions, shown

    notebooks = find_submissions([folder]) if folder.is_dir() else []
    if not notebooks:
        return None, "No .ipynb file was submitted: upload your exercise notebook."
    if len(notebooks) == 1:
        return notebooks[0], ""
    named = [p for p in notebooks if p.stem == slug]
    chosen = named[0] if named else notebooks[0]
    return chosen, f"Several notebooks were submitted; graded {shown(chosen.name)}."
