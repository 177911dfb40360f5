"""The course's Sphinx extension (listed in _config.yml): what makes the book a good website.

Each part is small and says why it exists; tests/test_browser.py and tests/test_site.py check
the pages they produce.

- Navigation at phone width (`templates/layout.html`). pydata-sphinx-theme 0.17 draws a header
  of its own with a second `.primary-toggle`/`.secondary-toggle` (hidden beside
  sphinx-book-theme's) and binds its scripts to the first of each, so below 992 px the menu
  buttons opened nothing, and at desktop width an empty bar with a second search box sat on
  top. The template drops that header. Drop the template once pydata-sphinx-theme binds every
  toggle (pydata-sphinx-theme#2451) or sphinx-book-theme stops rendering the header
  (sphinx-book-theme#988, #999), whichever is released first: test_navigation_opens says when.
- Weight. The theme puts a 1.5 MB FontAwesome script on every page, although its CSS already
  draws the same icons from web fonts: the script is dropped, and the fonts are cut down to the
  icons the site uses. MathJax is loaded without its 430 kB menu (and the site keeps only the
  MathJax components it loads: 24 MB less). Slider frames leave the HTML
  for image files (palette PNGs), and every figure is palette-compressed (256 colours; line plots
  lose nothing visible).
- Numbered figures. A figure made from a cell's `mystnb.figure` metadata (or a `{figure}`) is
  numbered within its chapter, "Figure 6.3", so prose can say {numref}`fig-name`; exercises too.
- Readers' expectations: page metadata for link previews, a 404 page, an author-year
  bibliography, exercise pages that say where an answer goes, the course's CSS and script
  (course/static), and `{only} solutions` blocks shown only in a build with the Solutions part.
- `make pdf` prints a singlehtml build: myst-nb's node handlers are shared with that builder.
- sphinx-thebe registers its configuration script twice (a SyntaxError in the console); the
  repeated script tag is dropped.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import os
import posixpath
import re
import shutil
from pathlib import Path

from docutils import nodes

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
FRAMES_DIR = "_images"   # slider frames go where Sphinx puts every other picture
FIGURE_COLOURS = 256     # a figure on the site is a palette PNG of at most this many colours
FRAME_COLOURS = 64       # a slider frame has fewer: frames are seen in motion

# MathJax 3 without the contextual menu (ui/menu.js is 430 kB of the 1.16 MB tex-chtml.js);
# the assistive MathML that the menu would switch on is loaded directly, for screen readers.
MATHJAX_PATH = "mathjax/startup.js"
MATHJAX_CONFIG = {
    "loader": {"load": ["input/tex", "output/chtml", "a11y/assistive-mml"]},
    "startup": {"typeset": True},
}


# --- configuration -----------------------------------------------------------------------------

def site_url(config) -> str:
    """Where the site lives: $SITE_URL (the Pages workflow sets it), else the project's GitHub
    Pages address, derived from the repository in _config.yml (so forks need no edit)."""
    url = os.environ.get("SITE_URL") or config.html_baseurl
    if not url:
        repository = (config.html_theme_options or {}).get("repository_url", "")
        match = re.match(r"https://github\.com/([^/]+)/([^/]+?)/?$", repository)
        if match:
            url = f"https://{match.group(1).lower()}.github.io/{match.group(2)}/"
    return url.rstrip("/") + "/" if url else ""


def _configure(app, config) -> None:
    # `{only} solutions` blocks appear only in a build whose table of contents has the
    # Solutions part (make book), not in the student build (make student-book).
    toc = Path(app.srcdir, getattr(config, "external_toc_path", "") or "_toc.yml")
    if toc.is_file() and "solutions/" in toc.read_text(encoding="utf-8"):
        app.tags.add("solutions")
    config.templates_path = [str(TEMPLATES), *config.templates_path]
    # With no default mode the theme's script logs "invalid theme mode" on a reader's first visit.
    config.html_context = {"default_mode": "auto", **(config.html_context or {})}
    config.html_static_path = [*config.html_static_path, str(STATIC)]
    config.html_baseurl = site_url(config)
    config.mathjax_path = MATHJAX_PATH
    config.mathjax3_config = {**MATHJAX_CONFIG, **(config.mathjax3_config or {})}
    config.numfig_format = {**(config.numfig_format or {}), "figure": "Figure %s"}
    config.bibtex_default_style = "course-author-year"


def _builder_inited(app) -> None:
    if app.builder.name == "singlehtml":
        # make pdf builds one page with the singlehtml builder. Some extension registers a
        # handler for it, so Sphinx no longer falls back to the html handlers, and myst-nb's
        # hidden-input cells (registered for html only) would stop the build: share them.
        handlers = app.registry.translation_handlers
        single = handlers.setdefault("singlehtml", {})
        for node, pair in handlers.get("html", {}).items():
            single.setdefault(node, pair)
    if app.builder.format == "html" and hasattr(app.builder, "templates"):
        filters = app.builder.templates.environment.filters
        filters["without_fontawesome_script"] = _without_fontawesome
        filters["without_search_index"] = _without_search_index


def _without_fontawesome(head: str) -> str:
    return re.sub(r'\s*<script[^>]*/fontawesome\.js[^>]*></script>', "", str(head))


def _without_search_index(head: str) -> str:
    """pydata-sphinx-theme loads the search index (100 kB) on every page for search-as-you-type,
    which is off here: the search box sends the reader to search.html, which loads it."""
    return re.sub(r'\s*<script src="[^"]*(searchindex|searchtools|language_data)\.js"></script>', "", str(head))


# --- every page --------------------------------------------------------------------------------

def _drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
    """sphinx-thebe registers `const THEBE_JS_URL = ...` twice: a SyntaxError on every page."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen: set = set()
    unique = []
    for script in scripts:
        # The copies differ only in a filename of None against '' (both: an inline script).
        key = (getattr(script, "filename", str(script)) or "",
               tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    # In place: extensions that run later in this event (sphinx.ext.mathjax adds MathJax here)
    # append to the very list the template reads.
    scripts[:] = unique


def _drop_unused_design_assets(app, pagename, templatename, context, doctree) -> None:
    """Jupyter Book always loads sphinx-design (62 kB); the course uses none of its components."""
    if "sd-" in context.get("body", ""):
        return
    for key, name in (("css_files", "sphinx-design"), ("script_files", "design-tabs")):
        if context.get(key):
            context[key][:] = [f for f in context[key] if name not in (getattr(f, "filename", str(f)) or "")]


def _citation_roles(app, pagename, templatename, context, doctree) -> None:
    """docutils marks each bibliography entry doc-biblioentry, a role ARIA 1.3 deprecates, inside
    a role="list": axe reports the list as having no valid items (critical). Plain list items."""
    if "body" in context and 'role="doc-biblioentry"' in context["body"]:
        context["body"] = context["body"].replace('role="doc-biblioentry"', 'role="listitem"')


def _description(doctree) -> str:
    """The page's first paragraph of prose, for link previews."""
    if doctree is None:
        return ""
    for paragraph in doctree.findall(nodes.paragraph):
        if paragraph.next_node(nodes.math, include_self=False) is not None:
            continue
        text = " ".join(paragraph.astext().split())
        if len(text) >= 60:
            return text if len(text) <= 200 else text[:197].rsplit(" ", 1)[0] + "…"
    return ""


def _page_metadata(app, pagename, templatename, context, doctree) -> None:
    """Open Graph and description tags: a link to a chapter previews as the chapter."""
    config = app.config
    title = re.sub(r"<[^>]+>", "", context.get("title") or config.html_title or "")
    description = _description(doctree) or "An open, executable course on learning rates and hyperparameters."
    tags = {"description": description}
    properties = {"og:title": html.unescape(title), "og:description": description, "og:type": "website",
                  "og:site_name": config.html_title}
    if config.html_baseurl:
        properties["og:url"] = config.html_baseurl + app.builder.get_target_uri(pagename)
        properties["og:image"] = config.html_baseurl + "_static/social-card.png"
        properties["og:image:alt"] = "The course's logo: a loss curve falling under a learning-rate schedule"
    lines = [f'<meta name="{k}" content="{html.escape(v)}">' for k, v in tags.items()]
    lines += [f'<meta property="{k}" content="{html.escape(v)}">' for k, v in properties.items()]
    lines.append('<meta name="twitter:card" content="summary">')
    context["metatags"] = context.get("metatags", "") + "\n".join(lines) + "\n"


# --- figure numbers within a chapter -----------------------------------------------------------

def _chapter_number(docname: str) -> int | str | None:
    """6 for book/06_adaptive_optimizers, "6b" for a chapter's second page (book/06b_...)."""
    match = re.match(r"(book|exercises|solutions)/(\d\d)([a-z]?)_", docname)
    if not match or match.group(2) in ("00", "99"):
        return None
    return f"{int(match.group(2))}{match.group(3)}" if match.group(3) else int(match.group(2))


def _number_within_chapters(app, env) -> list[str]:
    """Sphinx numbers figures through the whole book (no numbered toctree here); make it
    "Figure <chapter>.<n>" in a chapter ("Figure 6b.<n>" on its second page), and "<n>"
    restarting on every other page."""
    for docname, by_type in env.toc_fignumbers.items():
        chapter = _chapter_number(docname)
        for figtype, numbers in by_type.items():
            ordered = sorted(numbers, key=lambda figure_id: numbers[figure_id])
            for n, figure_id in enumerate(ordered, start=1):
                numbers[figure_id] = (chapter, n) if chapter is not None else (n,)
    return []


# --- exercise pages ----------------------------------------------------------------------------

def _answer_boxes(app, doctree) -> None:
    """An exercise's "double-click this cell" prompt means something in a notebook only; on the
    web page it becomes a box saying where the answer goes."""
    from .exercise import ANSWER_PROMPT

    docname = app.env.docname
    if not docname.startswith("exercises/"):
        return
    prompt = " ".join(re.sub(r"[*_]", "", ANSWER_PROMPT).split())
    for paragraph in list(doctree.findall(nodes.paragraph)):
        if " ".join(paragraph.astext().split()) == prompt:
            box = nodes.container(classes=["course-answer"])
            text = nodes.paragraph()
            text += nodes.strong(text="Your answer")
            text += nodes.Text(" goes in this cell of the notebook: open this page in Colab or Binder "
                               "(the rocket button above), or locally with make lab.")
            box += text
            paragraph.replace_self(box)


# --- sliders: frames as files, loaded as needed --------------------------------------------------

FRAMES_JSON = re.compile(r'(<script type="application/json" class="course-slider-frames">)(.*?)(</script>)', re.S)
FIRST_FRAME = re.compile(r'(<figure class="course-slider"[^>]*>\s*<img src=")(data:image/png;base64,[^"]+)(")')


def compress_png(data: bytes, colours: int = FIGURE_COLOURS) -> bytes:
    """The same picture with at most `colours` colours: a third of the bytes for a line plot."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        if image.mode == "P":
            return data
        if image.mode == "RGBA" and image.getextrema()[3][0] == 255:
            image = image.convert("RGB")
        # Maximum coverage keeps a colour that few pixels have, such as a thin line's: median
        # cut merged chapter 6's red RMSprop line into the orange momentum line (and made
        # bigger files). tests/test_site.py checks every stored figure.
        method = Image.Quantize.FASTOCTREE if image.mode == "RGBA" else Image.Quantize.MAXCOVERAGE
        small = image.quantize(colors=colours, method=method, dither=Image.Dither.NONE)
        out = io.BytesIO()
        small.save(out, format="PNG", optimize=True)
    return out.getvalue() if out.tell() < len(data) else data


def _frame_file(app, uri: str) -> str:
    """Write one data-URI frame as a compressed PNG under _images/; its path from the root."""
    data = base64.b64decode(uri.split(",", 1)[1])
    name = f"slider-{hashlib.sha256(data).hexdigest()[:20]}.png"
    target = Path(app.outdir) / FRAMES_DIR / name
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(compress_png(data, colours=FRAME_COLOURS))
    return f"{FRAMES_DIR}/{name}"


def _externalise_frames(app, doctree, docname) -> None:
    if app.builder.format != "html":
        return
    page = app.builder.get_target_uri(docname).split("#")[0]   # singlehtml: "" (root-relative)
    prefix = posixpath.relpath(".", posixpath.dirname(page) or ".")
    prefix = "" if prefix == "." else prefix + "/"

    def url(uri: str) -> str:
        return prefix + _frame_file(app, uri) if uri.startswith("data:") else uri

    for raw in doctree.findall(nodes.raw):
        text = raw.astext()
        if "course-slider-frames" not in text:
            continue
        text = FRAMES_JSON.sub(lambda m: m.group(1) + json.dumps([url(u) for u in json.loads(m.group(2))]) + m.group(3), text)
        text = FIRST_FRAME.sub(lambda m: m.group(1) + url(m.group(2)) + '" loading="lazy' + m.group(3), text)
        raw.children = [nodes.Text(text)]


# --- after the build -----------------------------------------------------------------------------

FONT_AWESOME_CLASS_RULE = re.compile(r"([^{}]+)\{content:\"\\(f[0-9a-f]{3})\"\}")


def _icon_codepoints(css: str, used_classes: set[str]) -> set[int]:
    """Code points of the icons the pages use: icon classes found in the HTML, plus the icons
    the theme's own CSS draws (admonitions, chevrons)."""
    points = set()
    for selectors, point in FONT_AWESOME_CLASS_RULE.findall(css):
        names = [s.strip() for s in selectors.split(",")]
        icon_classes = [re.fullmatch(r"\.(fa-[a-z0-9-]+):{1,2}before", s) for s in names]
        if all(icon_classes):
            if any(m.group(1) in used_classes for m in icon_classes):
                points.add(int(point, 16))
        else:
            points.add(int(point, 16))
    return points


def _subset_icon_fonts(outdir: Path) -> None:
    import logging

    from fontTools import subset

    logging.getLogger("fontTools").setLevel(logging.WARNING)

    fonts = sorted((outdir / "_static" / "vendor").rglob("fa-*.woff2"))
    css_file = outdir / "_static" / "styles" / "pydata-sphinx-theme.css"
    if not fonts or not css_file.exists():
        return
    used: set[str] = set()
    for page in outdir.rglob("*.html"):
        for classes in re.findall(r'class="([^"]*\bfa[a-z-]*\b[^"]*)"', page.read_text(encoding="utf-8")):
            used.update(c for c in classes.split() if c.startswith("fa-"))
    css = "\n".join(p.read_text(encoding="utf-8") for p in (outdir / "_static").rglob("*.css"))
    points = _icon_codepoints(css, used)
    for font in fonts:
        options = subset.Options()
        options.flavor = "woff2"
        options.layout_features = ["*"]
        loaded = subset.load_font(str(font), options)
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=points | {0x20})
        subsetter.subset(loaded)
        subset.save_font(loaded, str(font), options)
    for ttf in (outdir / "_static" / "vendor").rglob("fa-*.ttf"):
        ttf.unlink()  # woff2 is read by every browser the theme supports
    # The theme's CSS defines every FontAwesome icon (67 kB of rules): keep the ones in use.
    keep = {f".{name}" for name in used}

    def rule(match: re.Match) -> str:
        selectors = [s.strip() for s in match.group(1).split(",")]
        icons = [re.fullmatch(r"(\.fa-[a-z0-9-]+):{1,2}before", s) for s in selectors]
        if all(icons) and not any(m.group(1) in keep for m in icons):
            return ""
        return match.group(0)

    css_file.write_text(FONT_AWESOME_CLASS_RULE.sub(rule, css_file.read_text(encoding="utf-8")), encoding="utf-8")


def _prune_mathjax(outdir: Path) -> None:
    """sphinx-mathjax-offline copies all of MathJax (24 MB); the pages load startup.js and the
    components in MATHJAX_CONFIG, plus TeX extensions on demand (input/ stays whole)."""
    root = outdir / "_static" / "mathjax"
    if not root.is_dir():
        return
    keep = {"startup.js", "core.js", "loader.js"}
    for bundle in root.glob("*.js"):
        if bundle.name not in keep:
            bundle.unlink()
    for folder in ("sre", "ui", "output/svg"):
        shutil.rmtree(root / folder, ignore_errors=True)
    (root / "output" / "svg.js").unlink(missing_ok=True)
    for extra in (root / "a11y").glob("*.js"):
        if extra.name != "assistive-mml.js":
            extra.unlink()


def _finish(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    for png in (outdir / "_images").glob("*.png"):
        if not png.name.startswith("slider-"):
            png.write_bytes(compress_png(png.read_bytes()))
    _subset_icon_fonts(outdir)
    _prune_mathjax(outdir)
    for leftover in [outdir / "_static" / "scripts" / "fontawesome.js",
                     *outdir.joinpath("_static").rglob("*.map")]:
        leftover.unlink(missing_ok=True)


# --- the 404 page --------------------------------------------------------------------------------

def _not_found_page(app):
    """404.html for GitHub Pages, which serves it at any missing address: a <base> pointing at
    the site's root keeps its links and styles working however deep the missing address is."""
    if app.builder.format != "html" or app.builder.name != "html":
        return []
    body = ("<h1>Page not found</h1>"
            "<p>There is no page at this address. It may have moved when the chapters were renumbered.</p>"
            f'<p>Start from the <a href="{app.builder.get_target_uri(app.config.root_doc)}">introduction</a>, '
            "or use the search (Ctrl+K) and the table of contents.</p>")
    return [("404", {"title": "Page not found", "body": body}, "page.html")]


def _not_found_base(app, pagename, templatename, context, doctree) -> None:
    if pagename == "404":
        root = re.sub(r"^[a-z]+://[^/]+", "", app.config.html_baseurl) or "/"
        context["metatags"] = context.get("metatags", "") + f'<base href="{html.escape(root)}">\n'


# --- bibliography: labels as the citations read ------------------------------------------------

def _register_bibliography_style() -> None:
    from pybtex.plugin import register_plugin
    from pybtex.style.formatting.unsrt import Style as UnsrtStyle
    from pybtex.style.labels import BaseLabelStyle
    from pybtex.style.sorting.author_year_title import SortingStyle

    class AuthorYearLabels(BaseLabelStyle):
        """[Kingma and Ba, 2015], [Duchi et al., 2011]: the list reads like the citations."""

        def format_labels(self, sorted_entries):
            for entry in sorted_entries:
                people = entry.persons.get("author") or entry.persons.get("editor") or []
                names = [" ".join(p.last_names) for p in people]
                if len(names) > 2:
                    who = f"{names[0]} et al."
                elif names:
                    who = " and ".join(names)
                else:
                    who = entry.fields.get("title", entry.key)
                yield f"{who}, {entry.fields.get('year', 'n.d.')}"

    class AuthorYearStyle(UnsrtStyle):
        default_label_style = AuthorYearLabels
        default_sorting_style = SortingStyle

    register_plugin("pybtex.style.formatting", "course-author-year", AuthorYearStyle, force=True)


def setup(app):
    _register_bibliography_style()
    app.connect("config-inited", _configure, priority=900)
    app.connect("builder-inited", _builder_inited)
    # Early: html-page-context stops at the first handler that returns a template name.
    app.connect("html-page-context", _drop_repeated_scripts, priority=100)
    app.connect("html-page-context", _page_metadata)
    app.connect("html-page-context", _citation_roles)
    app.connect("html-page-context", _drop_unused_design_assets, priority=100)
    app.connect("html-page-context", _not_found_base)
    app.connect("html-collect-pages", _not_found_page)
    app.connect("env-get-updated", _number_within_chapters, priority=900)
    app.connect("doctree-read", _answer_boxes)
    app.connect("doctree-resolved", _externalise_frames)
    app.connect("build-finished", _finish, priority=900)
    app.add_css_file("course.css")
    app.add_js_file("course.js", loading_method="defer")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
