"""nbval, extended so that it guards what the rendered book shows, pictures included.

nbval compares text outputs exactly (after tests/nbval_sanitize.cfg) but skips PNG images. The
book is mostly plots, so this plugin also compares every stored PNG with the fresh one: same
count, same size, and at most a tiny share of visibly different pixels. The tolerance absorbs
anti-aliasing noise from last-bit float differences between CPUs; a changed curve, label, axis
or colour moves far more pixels than that and fails.

It also makes sure that no notebook silently drops out of the run: when the whole suite runs,
every notebook under book/, exercises/ and solutions/ must have been collected.
"""

from __future__ import annotations

import base64
import copy
import io
import re
from pathlib import Path

import numpy as np
import pytest

FOLDERS = ("book", "exercises", "solutions")
PIXEL_DIFFERENCE = 0.05   # a channel that moved by more than 5 % of its range...
MAX_CHANGED_SHARE = 0.001  # ...in more than 0.1 % of the pixels is a different picture


# Frames of an interactive figure (course.interactive) are PNGs inside the HTML, as JavaScript
# strings that may be continued over lines with a backslash.
EMBEDDED_PNG = re.compile(r"data:image/png;base64,([A-Za-z0-9+/=\\\n]+)")


def _pngs(outputs) -> list[str]:
    found = []
    for output in outputs:
        data = output.get("data")
        if not isinstance(data, dict):
            continue
        if "image/png" in data:
            found.append(data["image/png"])
        html = data.get("text/html", "")
        html = "".join(html) if isinstance(html, list) else html
        found += [m.replace("\\\n", "") for m in EMBEDDED_PNG.findall(html)]
    return found


def _without_embedded_pngs(outputs):
    """A copy of the outputs whose HTML has each embedded picture replaced by a placeholder,
    so that nbval compares the rest of the HTML exactly and leaves the pictures to us."""
    copies = copy.deepcopy(outputs)
    for output in copies:
        data = output.get("data")
        if isinstance(data, dict) and "text/html" in data:
            html = data["text/html"]
            html = "".join(html) if isinstance(html, list) else html
            data["text/html"] = EMBEDDED_PNG.sub("data:image/png;base64,<compared as a picture>", html)
    return copies


def _pixels(data: str) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(data))) as image:
        return np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0


def compare_images(test_outputs, ref_outputs) -> str | None:
    """None when the pictures match, else what differs."""
    fresh, stored = _pngs(test_outputs), _pngs(ref_outputs)
    if len(fresh) != len(stored):
        return f"the cell drew {len(fresh)} image(s) where the notebook stores {len(stored)}"
    for i, (new, old) in enumerate(zip(fresh, stored), start=1):
        if new == old:
            continue
        a, b = _pixels(new), _pixels(old)
        if a.shape != b.shape:
            return f"image {i} is {a.shape[1]}x{a.shape[0]} pixels, the stored one {b.shape[1]}x{b.shape[0]}"
        changed = float((np.abs(a - b).max(axis=2) > PIXEL_DIFFERENCE).mean())
        if changed > MAX_CHANGED_SHARE:
            return (f"image {i} differs from the stored one in {changed:.1%} of its pixels "
                    f"(tolerance {MAX_CHANGED_SHARE:.1%}); re-run `make execute` if the change is intended")
    return None


def pytest_configure(config):
    try:
        from nbval.plugin import IPyNbCell
    except ImportError:
        return
    if getattr(IPyNbCell, "_images_compared", False):
        return
    original = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        if not original(self, _without_embedded_pngs(test), _without_embedded_pngs(ref), skip_compare):
            return False
        problem = compare_images(test, ref)
        if problem:
            self.comparison_traceback = [f"Images differ: {problem}"]
            return False
        return True

    IPyNbCell.compare_outputs = compare_outputs
    IPyNbCell._images_compared = True


def _check_collected(config, nodeids) -> None:
    if not config.option.nbval or config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return  # a partial run: the developer chose what to run
    root = Path(config.rootpath)
    expected = {p.relative_to(root).as_posix() for folder in FOLDERS for p in (root / folder).glob("*.ipynb")}
    missing = sorted(expected - {nodeid.split("::")[0] for nodeid in nodeids})
    if missing:
        raise pytest.UsageError(f"nbval did not collect these notebooks: {', '.join(missing)}")


def pytest_collection_finish(session):
    if not hasattr(session.config, "workerinput"):  # under xdist the controller checks instead
        _check_collected(session.config, [item.nodeid for item in session.items])


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    _check_collected(node.config, ids)
