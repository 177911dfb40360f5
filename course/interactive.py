"""Figures a reader can play with in the rendered book, with no kernel running.

    slider(FuncAnimation(fig, draw, frames=n),
           label="learning rate α·L",                  # names the range input
           alt="Gradient descent on the parabola ...",  # what the figure shows, for screen readers
           values=[f"α·L = {r:.1f}" for r in rates])    # optional: what each frame shows

draws every frame once and returns a small HTML player: the picture, a labelled range input,
previous/next/play buttons and a readout of the current value. It needs no kernel, no CDN and
no font, and works by keyboard.

- In the notebook (Jupyter, Colab) the frames are PNG data URIs inside the player, so the
  notebook stays self-contained.
- In the book, course.sphinx moves each frame into an image file of its own (palette-compressed)
  and the player loads a frame when it is first shown, so a page weighs its first frames only.
- The player is as wide as the column (the picture scales down with it), and each frame follows
  course.style's size rule: at most MAX_WIDTH_IN wide at the course's DPI.
- Element ids count up from 1 in each notebook run, so that nbval can compare the HTML with the
  stored one (tests/nbval_plugin.py compares the frames themselves as pictures).
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json

import matplotlib.pyplot as plt
from IPython.display import HTML

from .style import DPI

_ids = itertools.count(1)

# Shared by every player on a page; defined once (the guard) however many players there are.
_SCRIPT = """<script>
window.courseSlider = window.courseSlider || function (id) {
  const root = document.getElementById(id);
  const frames = JSON.parse(root.querySelector("script.course-slider-frames").textContent);
  const values = JSON.parse(root.dataset.values);
  const img = root.querySelector("img"), input = root.querySelector("input[type=range]");
  const out = root.querySelector("output"), play = root.querySelector("button.course-slider-play");
  const alt = img.alt.replace(/ Shown: .*$/, "");
  const preload = (i) => { if (i >= 0 && i < frames.length) { new Image().src = frames[i]; } };
  const show = (i) => {
    i = Math.max(0, Math.min(frames.length - 1, i));
    input.value = i; img.src = frames[i]; out.textContent = values[i];
    input.setAttribute("aria-valuetext", values[i]); img.alt = alt + " Shown: " + values[i] + ".";
    preload(i + 1); preload(i - 1);
  };
  let timer = null;
  const stop = () => { clearInterval(timer); timer = null; play.textContent = "\\u25B6"; play.setAttribute("aria-label", "Play"); };
  input.addEventListener("input", () => show(Number(input.value)));
  root.querySelectorAll("button[data-step]").forEach((b) => b.addEventListener("click", () => { stop(); show(Number(input.value) + Number(b.dataset.step)); }));
  play.addEventListener("click", () => {
    if (timer) { stop(); return; }
    frames.forEach((_, i) => preload(i));
    if (Number(input.value) === frames.length - 1) { show(0); }
    play.textContent = "\\u275A\\u275A"; play.setAttribute("aria-label", "Pause");
    timer = setInterval(() => { const i = Number(input.value) + 1; if (i >= frames.length) { stop(); } else { show(i); } }, 400);
  });
  preload(1);
};
</script>"""

_STYLE = """<style>
.course-slider { margin: 0.5em 0; max-width: 100%; }
.course-slider img { display: block; max-width: 100%; height: auto; }
.course-slider-controls { display: flex; flex-wrap: wrap; align-items: center; gap: 0.4em; max-width: 100%; }
.course-slider-controls input[type=range] { flex: 1 1 8em; min-width: 0; }
.course-slider-controls button { min-width: 2.2em; min-height: 2.2em; }
.course-slider-controls output { min-width: 7em; font-variant-numeric: tabular-nums; }
</style>"""


def _frames(animation, dpi: int) -> tuple[list[str], tuple[int, int]]:
    """Every frame of a FuncAnimation as a PNG data URI, and the pictures' size in pixels."""
    fig = animation._fig
    fig.set_dpi(dpi)
    animation._init_draw()
    uris = []
    with plt.rc_context({"savefig.bbox": "standard"}):  # not "tight": one size for every frame
        for data in animation.new_frame_seq():
            animation._draw_frame(data)
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=dpi)
            uris.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
    plt.close(fig)
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(uris[0].split(",", 1)[1]))) as first:
        return uris, first.size


def slider(animation, *, label: str, alt: str, values: list[str] | None = None, dpi: int = DPI) -> HTML:
    """A kernel-free player for `animation` (a FuncAnimation): one frame per slider step.

    `label` names what the slider changes (the range input's accessible name); `alt` says what
    the figure shows; `values` (one string per frame) is read out next to the slider and to
    screen readers. Both strings are required: the book's tests reject a player without them.
    """
    if not label.strip() or not alt.strip():
        raise ValueError("slider() needs a label (what the slider changes) and an alt text (what the figure shows)")
    frames, (width, height) = _frames(animation, dpi)
    if values is None:
        values = [f"frame {i + 1} of {len(frames)}" for i in range(len(frames))]
    values = [str(v) for v in values]
    if len(values) != len(frames):
        raise ValueError(f"{len(values)} values for {len(frames)} frames")
    uid = f"course-slider-{next(_ids)}"
    esc = html.escape
    player = f"""{_STYLE}
<figure class="course-slider" id="{uid}" data-values="{esc(json.dumps(values, ensure_ascii=False))}">
<img src="{frames[0]}" width="{width}" height="{height}" alt="{esc(alt)} Shown: {esc(values[0])}.">
<div class="course-slider-controls">
<button type="button" data-step="-1" aria-label="Previous">&#8249;</button>
<input type="range" id="{uid}-input" min="0" max="{len(frames) - 1}" value="0" step="1" aria-label="{esc(label)}" aria-valuetext="{esc(values[0])}">
<button type="button" data-step="1" aria-label="Next">&#8250;</button>
<button type="button" class="course-slider-play" aria-label="Play">&#9654;</button>
<output for="{uid}-input">{esc(values[0])}</output>
</div>
<script type="application/json" class="course-slider-frames">{json.dumps(frames)}</script>
</figure>
{_SCRIPT}
<script>courseSlider("{uid}");</script>"""
    return HTML(player)
