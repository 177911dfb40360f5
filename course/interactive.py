"""Figures a reader can play with in the rendered book, with no kernel running.

`slider(animation)` turns a matplotlib animation into matplotlib's own HTML player (a slider
plus play buttons over pre-rendered frames), made fit for the book:

- the element ids count up from 1 in each notebook run instead of being random, so that nbval can
  compare the HTML with the stored one (tests/nbval_plugin.py compares the embedded frames as
  pictures, with the same tolerance as other figures);
- the button icons are plain characters instead of a font fetched from a CDN, so the player
  works offline too;
- the figure is closed, so it is not shown a second time as a still image.

One frame per value of the parameter being explored, a few dozen frames at most: each is a PNG
stored in the notebook.
"""

from __future__ import annotations

import itertools
import re

import matplotlib.pyplot as plt
from IPython.display import HTML

_ids = itertools.count(1)

ICONS = {  # characters every common font has (the fast-forward symbols are often missing)
    "fa fa-minus": "&minus;",
    "fa fa-fast-backward": "&#8676;",
    "fa fa-step-backward": "&#8249;",
    "fa fa-play fa-flip-horizontal": "&#9664;",
    "fa fa-pause": "&#10074;&#10074;",
    "fa fa-play": "&#9654;",
    "fa fa-step-forward": "&#8250;",
    "fa fa-fast-forward": "&#8677;",
    "fa fa-plus": "+",
}


def slider(animation, default_mode: str = "once") -> HTML:
    """The animation as a self-contained HTML player with a slider, one frame per step."""
    html = animation.to_jshtml(default_mode=default_mode)
    plt.close(animation._fig)
    random_id = re.search(r'id="_anim_img([0-9a-f]{32})"', html).group(1)
    html = html.replace(random_id, f"{next(_ids):032d}")
    html = re.sub(r'<link rel="stylesheet"\s+href="https://maxcdn[^"]*font-awesome[^"]*">\s*', "", html)
    for css_class, char in ICONS.items():
        html = html.replace(f'<i class="{css_class}"></i>', f'<span aria-hidden="true">{char}</span>')
    return HTML(html)
