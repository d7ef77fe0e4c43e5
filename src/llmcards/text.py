"""Card text made safe and readable for a terminal: control characters and LaTeX.

Light on imports: pylatexenc is loaded only when a formula is actually converted.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

# C0 controls except tab and newline, DEL, and C1 controls (ESC starts terminal sequences).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FENCE_RE = re.compile(r"^(\s*)(```|~~~)")
_SCRIPT_GROUP_RE = re.compile(r"([_^])\{([^{}]*)\}")
_SIMPLE_SCRIPT_RE = re.compile(r"[A-Za-z0-9.']+|\\[A-Za-z]+")


def _bracket_script(match: re.Match[str]) -> str:
    """``x^{0.73}`` -> ``x^0.73`` but ``\\sum_{i=1}`` -> ``∑_(i=1)``, so scripts stay readable."""
    body = match.group(2).strip()
    if body.startswith("(") and body.endswith(")"):
        return match.group(0)
    if _SIMPLE_SCRIPT_RE.fullmatch(body):
        return f"{match.group(1)}{body}" if len(body) == 1 or not body.startswith("\\") else match.group(0)
    return f"{match.group(1)}{{({body})}}"


def _scripts(latex: str) -> str:
    """Bracket sub- and superscripts, innermost first (``10000^{2i/d_{model}}`` -> ``10000^(2i/d_model)``)."""
    for _ in range(6):
        changed = _SCRIPT_GROUP_RE.sub(_bracket_script, latex)
        if changed == latex:
            break
        latex = changed
    return latex


_RELATION_RE = re.compile(r"\s*([=≈∝≤≥≠→←⇒⇔∈∉⊂⊆∼≃≅≡×±])\s*")
_PLUS_RE = re.compile(r"(?<=[^\s(\[{^_])\s*\+\s*(?=[^\s)\]}])")  # a binary +, not x^+ or (+1)


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x20:
        return chr(0x2400 + code)  # the Unicode "control picture", e.g. ␛ for ESC
    if code == 0x7F:
        return "\u2421"
    return "\ufffd"


def neutralize(text: str) -> str:
    """Replace terminal control characters with visible stand-ins; keep tabs and newlines."""
    return _CONTROL_RE.sub(_picture, text.replace("\r\n", "\n"))


@lru_cache(maxsize=1)
def _converter() -> object:
    from pylatexenc.latex2text import LatexNodes2Text

    return LatexNodes2Text(math_mode="text", strict_latex_spaces=False)


@lru_cache(maxsize=4096)
def latex_to_unicode(latex: str) -> str:
    """One formula (without its dollars) as readable Unicode: ``\\frac{1}{\\sqrt{d_k}}`` -> ``1/√(d_k)``.

    ``%`` is escaped first, since LaTeX would read it as a comment. On a parse failure the
    formula is shown as written.
    """
    source = re.sub(r"(?<!\\)%", r"\\%", latex)
    source = _scripts(source)
    try:
        out = _converter().latex_to_text(source)  # type: ignore[attr-defined]
    except Exception:  # pylatexenc raises several types on odd input; fall back to the source
        return latex
    out = _RELATION_RE.sub(r" \1 ", out)
    out = _PLUS_RE.sub(" + ", out)
    out = re.sub(r"[ \t]+", " ", out).strip()
    return out or latex


_MD_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~^$])")


def md_escape(text: str) -> str:
    """Backslash-escape Markdown punctuation so the text renders literally."""
    return _MD_SPECIAL_RE.sub(r"\\\1", text)


_TOKEN_RE = re.compile(
    r"(?P<code>`+[^`]*?`+)"
    r"|\$\$(?P<display>.+?)\$\$"
    r"|(?<![\\$])\$(?!\s)(?P<inline>[^$\n]+?)(?<!\s)(?<!\\)\$(?!\$)"
    r"|(?P<special>[\\<])",
    re.S,
)


def _outside_fences(text: str, transform: Callable[[str], str]) -> str:
    """Apply ``transform`` to the text outside fenced code blocks; code stays as written."""
    out: list[str] = []
    chunk: list[str] = []
    in_fence = False

    def flush() -> None:
        if chunk:
            out.append(transform("".join(chunk)))
            chunk.clear()

    for line in text.splitlines(keepends=True):
        if _FENCE_RE.match(line):
            if not in_fence:
                flush()
            in_fence = not in_fence
            out.append(line)
        elif in_fence:
            out.append(line)
        else:
            chunk.append(line)
    flush()
    return "".join(out)


def _formula(m: re.Match[str]) -> str | None:
    formula = m.group("display") if m.group("display") is not None else m.group("inline")
    return None if formula is None else latex_to_unicode(formula.strip())


def plain(text: str) -> str:
    """Card text for one-line or plain contexts: math as Unicode, controls neutralised."""
    text = neutralize(text)
    if "$" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        converted = _formula(m)
        return m.group(0) if converted is None else converted

    return _outside_fences(text, lambda chunk: _TOKEN_RE.sub(repl, chunk))


def replace_formulas(text: str, formula: Callable[[str, bool], str]) -> str:
    """``text`` with each ``$...$`` and ``$$...$$`` formula outside code replaced by
    ``formula(latex, display)``; code spans and fenced blocks stay as written."""
    if "$" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        if m.group("display") is not None:
            return formula(m.group("display"), True)
        if m.group("inline") is not None:
            return formula(m.group("inline"), False)
        return m.group(0)

    return _outside_fences(text, lambda chunk: _TOKEN_RE.sub(repl, chunk))


def markdown_source(text: str) -> str:
    """Card Markdown prepared for Rich: formulas as escaped Unicode, the rest literal.

    Outside code, backslashes and ``<`` are escaped (so they show as written, not as
    Markdown escapes or HTML), each formula becomes Unicode with its Markdown punctuation
    escaped (so ``_`` or ``*`` in a formula never turns into emphasis), and the notes'
    line breaks are kept.
    """

    def repl(m: re.Match[str]) -> str:
        if m.group("code") is not None:
            return m.group("code")
        if m.group("special") is not None:
            return "\\" + m.group("special")
        return md_escape(_formula(m) or "")

    return _outside_fences(neutralize(text), lambda chunk: _hard_breaks(_TOKEN_RE.sub(repl, chunk)))


_BLOCK_START_RE = re.compile(r"^\s*([-*+]\s|\d+[.)]\s|#|>|\||```|~~~)")
_NO_BREAK_AFTER_RE = re.compile(r"^\s*(#|\|)")


def _hard_breaks(text: str) -> str:
    """Keep the notes' line breaks: a line followed by another non-blank line ends in a hard break.

    Notes are written one point per line; CommonMark would join such lines into one paragraph.
    Table rows are left alone, as a hard break would break the table.
    """
    lines = text.split("\n")
    for i in range(len(lines) - 1):
        line, following = lines[i], lines[i + 1]
        if (line.strip() and following.strip() and not line.endswith("\\")
                and not _NO_BREAK_AFTER_RE.match(line) and not _BLOCK_START_RE.match(following)):
            lines[i] = line.rstrip() + "\\"
    return "\n".join(lines)
