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


@lru_cache(maxsize=4096)
def latex_to_unicode(latex: str, display: bool = False) -> str:
    """One formula (without its dollars) as readable Unicode: ``\\frac{1}{\\sqrt{d_k}}`` -> ``1/√(d_k)``.

    ``%`` is escaped first, since LaTeX would read it as a comment. ``display`` formulas keep
    their lines (``\\\\`` and the notes' line breaks), joined by newlines. On a parse failure the
    formula is shown as written. See :mod:`llmcards.formula` for the rules.
    """
    from llmcards.formula import render

    source = re.sub(r"(?<!\\)%", r"\\%", latex)
    try:
        out = render(source, lines=display)
    except Exception:  # pylatexenc raises several types on odd input; fall back to the source
        return latex
    return out or latex


_MD_SPECIAL_RE = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~^$&])")


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


def formulas(text: str) -> list[tuple[str, bool]]:
    """Every formula in card text, outside code, as written: ``(latex, display)`` in order."""
    found: list[tuple[str, bool]] = []

    def collect(chunk: str) -> str:
        for m in _TOKEN_RE.finditer(chunk):
            if m.group("display") is not None:
                found.append((m.group("display").strip(), True))
            elif m.group("inline") is not None:
                found.append((m.group("inline").strip(), False))
        return chunk

    _outside_fences(neutralize(text), collect)
    return found


_DISPLAY_INDENT = "    "
_MD_DISPLAY_INDENT = "&nbsp;" * 4  # Markdown would strip leading spaces, or read four as a code block


def _formula(m: re.Match[str], escape: Callable[[str], str], indent: str) -> str:
    """A matched formula as Unicode; display math on lines of its own, indented as a block."""
    if m.group("display") is None:
        return escape(latex_to_unicode(m.group("inline").strip()))
    lines = latex_to_unicode(m.group("display").strip(), display=True).split("\n")
    text = m.string
    line_start = text.rfind("\n", 0, m.start()) + 1
    line_end = text.find("\n", m.end())
    before = text[line_start:m.start()]
    after = text[m.end():len(text) if line_end < 0 else line_end]
    lead = before[: len(before) - len(before.lstrip())]  # the line's own indentation, e.g. in a list item
    if before.lstrip().startswith("|"):  # in a table row: stay in the cell
        return escape("; ".join(lines))
    block = ("\n" + lead).join(indent + escape(line) for line in lines)
    if before.strip():
        block = "\n" + lead + block
    if after.strip():
        block += "\n" + lead
    return block


def plain(text: str) -> str:
    """Card text for plain contexts: math as Unicode (display math as indented lines), controls neutralised."""
    text = neutralize(text)
    if "$" not in text:
        return text

    def repl(m: re.Match[str]) -> str:
        if m.group("display") is None and m.group("inline") is None:
            return m.group(0)
        return _formula(m, lambda line: line, _DISPLAY_INDENT)

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
    escaped (so ``_`` or ``*`` in a formula never turns into emphasis), display math is
    set on lines of its own, indented, and the notes' line breaks are kept.
    """

    def repl(m: re.Match[str]) -> str:
        if m.group("code") is not None:
            return m.group("code")
        if m.group("special") is not None:
            return "\\" + m.group("special")
        return _formula(m, md_escape, _MD_DISPLAY_INDENT)

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
