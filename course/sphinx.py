"""A Sphinx extension for the book build (listed in _config.yml).

sphinx-thebe, which Jupyter Book always loads, registers its configuration script twice, so every
page carried `const THEBE_JS_URL = ...` twice and the browser reported a SyntaxError. The course
does not use Thebe; this drops repeated script tags from every page.
"""

from __future__ import annotations


def _drop_repeated_scripts(app, pagename, templatename, context, doctree) -> None:
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


def setup(app):
    # Early: html-page-context stops at the first handler that returns a template name.
    app.connect("html-page-context", _drop_repeated_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
