"""Exit with a clear message when this Python cannot install the course's pinned packages.

`make` runs it before it creates .venv, so an unsupported Python gets one sentence instead of a
pip resolution error. It must run on any Python 3: it imports nothing from the course.
"""

import sys

SUPPORTED = ((3, 11), (3, 13))  # TensorFlow 2.21 publishes wheels for Python 3.11 to 3.13


def problem(version=sys.version_info[:2]):
    """None when `version` is supported, else the message to show."""
    low, high = SUPPORTED
    if low <= tuple(version) <= high:
        return None
    return (f"{sys.executable} is Python {version[0]}.{version[1]}, but the course needs Python "
            f"{low[0]}.{low[1]} to {high[0]}.{high[1]}: TensorFlow 2.21 has no wheels for other "
            f"versions. Point make at a supported one, e.g. `make PYTHON=python3.12 test` "
            f"(and `rm -rf .venv` first if it was made with another Python).")


if __name__ == "__main__":
    sys.exit(problem())
