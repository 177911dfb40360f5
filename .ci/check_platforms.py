"""Does every pin of requirements.txt have a wheel for each platform and Python we support?

`make check-platforms` (and CI) asks pip, without installing anything, for each pinned package
on Linux x86-64 and aarch64, macOS arm64 and Windows, for Python 3.11 to 3.13. pip evaluates
environment markers for the machine it runs on, not for the --platform it is given, so the markers
are evaluated here for each target first.

It checks the pins themselves (--no-deps): that a platform needs no package this file does not pin
(colorama on Windows, say) is pip's to resolve on that machine.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from packaging.requirements import Requirement

PYTHONS = ["3.11", "3.12", "3.13"]
PLATFORMS = {  # name: (wheel platform tags pip may take, marker environment)
    "Linux x86-64": ([f"manylinux_2_{m}_x86_64" for m in range(17, 29)] + ["manylinux2014_x86_64"],
                     {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
                      "os_name": "posix"}),
    "Linux aarch64": ([f"manylinux_2_{m}_aarch64" for m in range(17, 29)] + ["manylinux2014_aarch64"],
                      {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "aarch64",
                       "os_name": "posix"}),
    "macOS arm64": ([f"macosx_{v}_0_arm64" for v in range(11, 16)],
                    {"sys_platform": "darwin", "platform_system": "Darwin", "platform_machine": "arm64",
                     "os_name": "posix"}),
    "Windows x86-64": (["win_amd64"],
                       {"sys_platform": "win32", "platform_system": "Windows", "platform_machine": "AMD64",
                        "os_name": "nt"}),
}
# A micro version that every pin accepts (some packages require 3.11.5 or newer).
FULL_VERSION = {"3.11": "3.11.9", "3.12": "3.12.0", "3.13": "3.13.0"}


def pins_for(requirements: list[str], python: str, markers: dict[str, str]) -> list[str]:
    """The requirement lines that apply on that platform, with their markers resolved."""
    environment = markers | {"python_version": python, "python_full_version": FULL_VERSION[python],
                             "implementation_name": "cpython",
                             "platform_python_implementation": "CPython"}
    pins = []
    for line in requirements:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        if requirement.marker is None or requirement.marker.evaluate(environment):
            requirement.marker = None
            pins.append(str(requirement))
    return pins


def check(python: str, tags: list[str], pins: list[str]) -> str | None:
    """None when pip finds a wheel for every pin, else pip's error lines."""
    with tempfile.TemporaryDirectory() as scratch:
        listing = Path(scratch) / "requirements.txt"
        listing.write_text("\n".join(pins) + "\n")
        command = [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--no-deps",
                   "--ignore-installed", "--disable-pip-version-check", "--only-binary=:all:",
                   "--implementation", "cp", "--python-version", FULL_VERSION[python],
                   "--target", str(Path(scratch) / "target"), "-r", str(listing)]
        for tag in tags:
            command += ["--platform", tag]
        process = subprocess.run(command, capture_output=True, text=True)
    if process.returncode == 0:
        return None
    errors = [line for line in process.stderr.splitlines()
              if line.startswith("ERROR") and "Ignored the following" not in line]
    return "\n    ".join(errors) or process.stderr[-2000:]


def main() -> int:
    requirements = (Path(__file__).resolve().parent.parent / "requirements.txt").read_text().splitlines()
    failures = 0
    for python in PYTHONS:
        for name, (tags, markers) in PLATFORMS.items():
            problem = check(python, tags, pins_for(requirements, python, markers))
            print(f"Python {python}, {name}: {'every pin has a wheel' if problem is None else 'FAILS'}",
                  flush=True)
            if problem:
                print("    " + problem)
                failures += 1
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
