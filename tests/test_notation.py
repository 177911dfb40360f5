"""One notation for the whole course (issue 13).

The intro's "Notation" section (book/00_intro.md) declares every symbol the course writes in its
formulas, figure labels and captions; each chapter, exercise, solution and the appendix may use
only those, and the old double meanings must not come back: $L$ for curvature (next to the loss
$\\mathcal{L}$), $\\lambda$ for curvature (it is the regularisation strength), $v$ for a second
moment (it is momentum's velocity; the running average of $g^2$ is $s$), $k$ for a batch
multiplier (it is the decay constant; the multiplier is $c$), and TPE's $\\ell(x)/g(x)$ (the
gradient is $g$; the densities are $p_{\\text{good}}$ and $p_{\\text{bad}}$).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.helpers import REPO

INTRO = REPO / "book" / "00_intro.md"
SOURCES = sorted(
    p for folder in ("book", "exercises", "solutions") for p in (REPO / folder).glob("*.md")
    if p != INTRO
)
IDS = [p.relative_to(REPO).as_posix() for p in SOURCES]

GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
    "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "pi", "varpi", "rho", "varrho",
    "sigma", "varsigma", "tau", "upsilon", "phi", "varphi", "chi", "psi", "omega", "ell",
    "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi", "Psi", "Omega",
}
# Commands whose argument is words, not symbols.
TEXT_COMMANDS = r"\\(?:text|mathrm|operatorname|texttt|textbf|textit|begin|end|label)\s*\{[^{}]*\}"
# The one sentence (in the intro and in chapter 2) that names the optimization texts' letter.
L_EXEMPTION = "Optimization texts call"

CODE_CELL = re.compile(r"^```\{code-cell\}.*?^```\s*$", re.S | re.M)
MATH_BLOCK = re.compile(r"^```\{math\}\s*$(.*?)^```\s*$", re.S | re.M)
DISPLAY = re.compile(r"(?<!\\)\$\$(.+?)(?<!\\)\$\$", re.S)
# Inline math: within a paragraph in prose, within a line in code (labels, captions).
INLINE_PROSE = re.compile(r"(?<![\\$])\$(?!\$)((?:[^$\n\\]|\\.|\n(?!\s*\n))+?)(?<!\\)\$")
INLINE_CODE = re.compile(r"(?<![\\$])\$(?!\$)((?:[^$\n\\]|\\.)+?)(?<!\\)\$")


def math_spans(text: str) -> list[tuple[int, str]]:
    """(offset, formula) for every formula in a MyST source: display and inline math in the prose,
    and the $...$ inside code cells (figure labels, titles, captions, alt text)."""
    spans = []
    code = [(m.start(), m.end()) for m in CODE_CELL.finditer(text)]
    masked = list(text)
    for start, end in code:
        for m in INLINE_PROSE.finditer(text, start, end):
            spans.append((m.start(), m.group(1)))
        masked[start:end] = " " * (end - start)
    prose = "".join(masked)
    for pattern in (MATH_BLOCK, DISPLAY):
        for m in pattern.finditer(prose):
            spans.append((m.start(), m.group(1)))
        prose = pattern.sub(lambda m: " " * len(m.group(0)), prose)
    spans += [(m.start(), m.group(1)) for m in INLINE_PROSE.finditer(prose)]
    return sorted(spans)


def symbols(formula: str) -> set[str]:
    """The symbols of one formula: Greek letters, calligraphic and blackboard letters, and Latin
    letters. A run of one or two Latin letters is a product ($kt$, $wx$); a longer run is a word
    ($\\max$ and \\text{...} are dropped first)."""
    formula = re.sub(TEXT_COMMANDS, " ", formula)
    found = set(re.findall(r"\\(?:mathcal|mathbb)\s*\{\s*[A-Za-z]\s*\}", formula))
    found = {re.sub(r"\s", "", s) for s in found}
    formula = re.sub(r"\\(?:mathcal|mathbb)\s*\{\s*[A-Za-z]\s*\}", " ", formula)
    for name in re.findall(r"\\([A-Za-z]+)", formula):
        if name in GREEK:
            found.add("\\" + name)
    formula = re.sub(r"\\[A-Za-z]+", " ", formula)
    for run in re.findall(r"[A-Za-z]+", formula):
        if len(run) <= 2:
            found.update(run)
    return found


def declared() -> set[str]:
    """Every symbol written in the intro's Notation section, except the letter it rules out."""
    text = INTRO.read_text(encoding="utf-8")
    section = text[text.index("## Notation"):]
    section = section[: section.find("\n## ", 1) if "\n## " in section[1:] else len(section)]
    allowed = set()
    for _, formula in math_spans(section):
        allowed |= symbols(formula)
    return allowed - {"L"}


def paragraph_at(text: str, offset: int) -> str:
    """The paragraph around offset; in a list or a table, its item or row."""
    start = text.rfind("\n\n", 0, offset) + 1
    end = text.find("\n\n", offset)
    end = end if end != -1 else len(text)
    paragraph = text[start:end]
    # a new item starts at a bullet, a number, a table row or a glossary term (no indent)
    starts = [m.start() for m in re.finditer(r"^(?:[-*|] |\d+\. |[^\s])", paragraph, re.M)]
    here = offset - start
    item_start = max([s for s in starts if s <= here], default=0)
    item_end = min([s for s in starts if s > here], default=len(paragraph))
    return paragraph[item_start:item_end]


def names_the_texts_letter(text: str, offset: int) -> bool:
    """Whether the formula at offset is in the one sentence that names the texts' $L$."""
    return L_EXEMPTION in text[max(0, offset - 400) : offset]


def misuses(text: str) -> list[str]:
    """The old double meanings, found in one source."""
    found = []
    for offset, formula in math_spans(text):
        syms = symbols(formula)
        paragraph = paragraph_at(text, offset)
        if "L" in syms and not names_the_texts_letter(text, offset):
            found.append(f"${formula}$: L for curvature (write h, h_max; L only where "
                         f"'{L_EXEMPTION}' names it)")
        if "\\lambda" in syms and ("curvature" in paragraph.lower()
                                   or re.search(r"\\lambda_\{?\\?(max|min|i)\b", formula)):
            found.append(f"${formula}$: lambda for curvature (lambda is regularisation)")
        if "v" in syms and (re.search(r"\\sqrt\{\s*(\\hat\s*\{?\s*)?v\b|\\hat\s*\{?v\b", formula)
                            or re.search(r"g\^\{?2", formula)
                            or "second moment" in paragraph.lower()):
            found.append(f"${formula}$: v for a second moment (v is velocity; write s)")
        if re.search(r"\\sqrt\{k\}|\bk\s*B\b|\bkB\b|\bk\s*\\alpha\b", formula):
            found.append(f"${formula}$: k for a batch multiplier (k is the decay constant; write c)")
        if re.search(r"(?<![A-Za-z\\])(g|\\ell)\s*\(\s*x\s*\)", formula):
            found.append(f"${formula}$: TPE's l(x)/g(x) (g is the gradient; write p_good, p_bad)")
        if "\\epsilon" in syms:
            found.append(f"${formula}$: \\epsilon (the course writes \\varepsilon)")
    for m in re.finditer(r"(?:multipl\w*|scal\w*) (?:the )?(?:batch size|learning rate|rate) by "
                         r"\$k\$", text):
        found.append(f"{m.group(0)!r}: k for a batch multiplier")
    return found


def test_the_intro_declares_the_course_letters():
    allowed = declared()
    for symbol in ("w", "\\mathcal{L}", "g", "\\alpha", "t", "e", "h", "H", "\\kappa", "\\mu", "v",
                   "m", "s", "\\rho", "\\beta", "\\varepsilon", "\\lambda", "k", "c", "B", "N",
                   "E", "\\gamma", "\\eta", "\\tau"):
        assert symbol in allowed, f"the notation table lacks {symbol}"
    assert "L" not in allowed


@pytest.mark.parametrize("source", SOURCES, ids=IDS)
def test_every_symbol_is_in_the_notation_table(source: Path):
    allowed = declared()
    text = source.read_text(encoding="utf-8")
    undeclared = {}
    for offset, formula in math_spans(text):
        for symbol in symbols(formula) - allowed:
            if symbol == "L" and names_the_texts_letter(text, offset):
                continue
            undeclared.setdefault(symbol, formula)
    assert not undeclared, (
        "symbols missing from the intro's Notation table (book/00_intro.md): "
        + "; ".join(f"{s} in ${f.strip()}$" for s, f in sorted(undeclared.items()))
    )


@pytest.mark.parametrize("source", [INTRO, *SOURCES], ids=["book/00_intro.md", *IDS])
def test_no_symbol_has_its_old_second_meaning(source: Path):
    found = misuses(source.read_text(encoding="utf-8"))
    assert not found, "\n".join(found)


def test_the_checks_catch_each_old_meaning():
    """Each misuse the issue listed, written back into a sentence, is caught."""
    allowed = declared()
    regressions = [
        "stable exactly when $0 < \\alpha < 2/L$.",
        "On a quadratic each curvature direction $\\lambda$ evolves on its own.",
        "a contraction of $1 - \\alpha\\lambda_{\\min}$ per step",
        "an $\\varepsilon$ much larger than $\\sqrt{v}$ dominates",
        "Adam's second moment $v$ decays with $\\beta_2$.",
        "when you multiply the batch size by $k$, multiply the learning rate by $k$.",
        "the ratio $\\ell(x)/g(x)$ is largest",
        "Adam's $\\beta_1$ and $\\epsilon$",
    ]
    for sentence in regressions:
        assert misuses(sentence), sentence
    assert symbols("\\theta_t + \\omega") - allowed == {"\\theta", "\\omega"}
    # and the corrected sentences pass
    for sentence in [
        "Optimization texts call the bound $L$ and write $2/L$.",
        "On a quadratic each direction, with its curvature $h$, evolves on its own.",
        "an $\\varepsilon$ much larger than $\\sqrt{s}$ dominates",
        "shrinks the weights by $1 - 2\\alpha\\lambda$",
        "when you multiply the batch size by $c$, multiply the learning rate by $c$.",
        "the ratio $p_{\\text{good}}(x)/p_{\\text{bad}}(x)$ is largest",
    ]:
        assert not misuses(sentence), sentence
