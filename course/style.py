"""One look for every figure of the course, sized for the book's column on a phone.

The size rule. The book shows a figure at its natural size, or narrower when the column is
narrower: on a 390 px phone a cell's output column is about 336 px wide. Text that is
FONT_PT points in a figure saved at DPI dots per inch is FONT_PT * DPI / 72 pixels in the
PNG, shrunk by 336 / (PNG width) on the phone. So, with every font at least MIN_FONT_PT:

- a figure is at most MAX_WIDTH_IN inches wide (MAX_WIDTH_PX in the PNG), which keeps its
  smallest text at MIN_SCREEN_PX or more on a phone (tests/test_site.py checks every stored
  PNG; tests/test_browser.py measures it in Chromium);
- wider content is split: panels go on top of each other (`plt.subplots(2, 1)`), never side
  by side beyond MAX_WIDTH_IN;
- no `fontsize=` below MIN_FONT_PT in a chapter (the rc sizes below are all at least that).
"""

from __future__ import annotations

import matplotlib as mpl
import matplotlib.pyplot as plt

# Okabe and Ito's colour-blind-safe hues, in the order lines are drawn, darkened where the
# original is lighter than 3:1 against the white page (orange, sky blue, yellow, pink): a line
# must stand out from the background as much as large text must (WCAG 2.2, 1.4.11).
PALETTE = ["#0072B2",  # blue
           "#C07000",  # orange
           "#009E73",  # bluish green
           "#B22222",  # red (Okabe and Ito's vermillion, deepened: the darkened
                       # orange and the vermillion were too alike)
           "#C46AA0",  # reddish purple
           "#3A8CC4",  # sky blue
           "#948300",  # olive (Okabe and Ito's yellow, darkened)
           "#000000"]

DPI = 100
COLUMN_PX_ON_PHONE = 336    # a cell output's width in the book at a 390 px viewport
MIN_SCREEN_PX = 8           # the smallest text a reader should have to read
MIN_FONT_PT = 11
MAX_WIDTH_IN = 6.4
MAX_WIDTH_PX = round(MAX_WIDTH_IN * DPI)
DEFAULT_SIZE = (MAX_WIDTH_IN, 3.6)


def smallest_text_on_phone(png_width_px: int, font_pt: float = MIN_FONT_PT, dpi: int = DPI) -> float:
    """Height in CSS pixels of `font_pt` text of a `png_width_px` wide figure on a phone."""
    scale = min(1.0, COLUMN_PX_ON_PHONE / png_width_px)
    return font_pt * dpi / 72 * scale


assert smallest_text_on_phone(MAX_WIDTH_PX) >= MIN_SCREEN_PX  # the rule above, as numbers


def use_course_style() -> None:
    """Apply the course's matplotlib settings; call once in a notebook's first cell."""
    mpl.rcParams.update({
        "axes.prop_cycle": mpl.cycler(color=PALETTE),
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": MIN_FONT_PT,
        "axes.titlesize": 12,
        "axes.labelsize": MIN_FONT_PT,
        "xtick.labelsize": MIN_FONT_PT,
        "ytick.labelsize": MIN_FONT_PT,
        "legend.fontsize": MIN_FONT_PT,
        "figure.titlesize": 12,
        "legend.frameon": False,
        "figure.figsize": DEFAULT_SIZE,
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "savefig.bbox": "tight",
        "svg.hashsalt": "lr-course",  # stable ids if a figure is ever saved as SVG
        "lines.linewidth": 1.8,
    })
    try:  # in a notebook: crisp figures, embedded as PNG
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            shell.run_line_magic("config", "InlineBackend.figure_formats = ['png']")
    except ImportError:
        pass


def color(i: int) -> str:
    """The i-th colour of the palette (wrapping around)."""
    return PALETTE[i % len(PALETTE)]


__all__ = ["PALETTE", "MAX_WIDTH_IN", "MIN_FONT_PT", "use_course_style", "color", "plt"]
