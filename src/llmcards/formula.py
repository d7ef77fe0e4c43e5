"""One LaTeX formula as readable Unicode, rendered from pylatexenc's node tree.

pylatexenc parses the formula and supplies the symbols (``\\Phi`` -> ``Φ``, ``\\approx`` -> ``≈``);
the structure is rendered here, so grouping survives any depth of nesting:

* a sub- or superscript of one token is written bare (``d_model``, ``C^0.73``); a longer one
  keeps its group in parentheses (``10000^(2i/d_model)``, ``∑_(i=0)``). A superscript is
  written in Unicode superscript characters when every character of it has one and it has
  at most one letter (``10¹²``, ``x²``, ``Kᵀ``, ``d²_model``), never mixed with ``^`` in one
  group. Subscripts always use ``_`` (``d_k``, ``x_1``): Unicode has subscripts for only a
  few letters, and ``x₁ + … + x_n`` would mix two styles. The limits of ``∑``, ``∏`` and
  ``∫`` are always written with ``_``/``^``, followed by a space;
* a fraction is ``numerator/denominator``; a numerator with more than one term, or a
  denominator with more than one factor, is bracketed (``2Φ/(D_tp·D_pp)``); a fraction
  written next to another factor is bracketed whole (``log(a/b)``);
* a symbol written with ``_``/``^`` is separated from the next symbol by ``·``
  (``d_hidden·d_FFN``), so that no two read as one;
* relations and binary operators are spaced evenly (``a + b = c``, ``≤``); ``·`` is tight,
  ``/``, ``*`` and ``|`` keep the notes' choice of spacing on both sides; inside scripts
  everything is tight. A space the notes put between two symbols is dropped, as LaTeX does
  (``4 \\Phi`` is ``4Φ``), but kept next to a word (``β log``);
* an accent goes on a single character (``Q̃``) and otherwise names the group (``bar(x²)``);
* in display math (``lines=True``) ``\\\\`` and the notes' own line breaks start new lines.

Everything that can fail (pylatexenc's parser, odd input) raises; the caller shows the
formula as written then.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

# Kinds of piece: an ordinary symbol, delimiters, operators, punctuation, spaces, and structures.
ATOM, OPEN, CLOSE, BIN, REL, BAR, PUNCT = "atom", "open", "close", "bin", "rel", "bar", "punct"
SPACE, HARD, BREAK, FUNC, BIG, FRAC = "space", "hard", "break", "func", "big", "frac"

_REL = set("=<>≈∝≤≥≠∼≃≅≡≪≫→←↔⇒⇐⇔⟹⟸⟺↦∈∉∋⊂⊃⊆⊇⊥∥≜≐≺≻⪯⪰")
_BIN = set("+-−×·⋅±∓÷⊕⊗⊙∪∩∖∧∨")
_EVEN = set("*∗/∘⋆")  # spaced on both sides only when the notes space it
_TIGHT = set("·⋅")  # never spaced
_BARS = set("|‖")
_OPEN = set("([{⟨⌈⌊")
_CLOSE = set(")]}⟩⌉⌋")
_PUNCT = set(",;:.")
_BIG = set("∑∏∐∫∬∭∮⋃⋂⨁⨂⋀⋁")
_OPERANDS = (ATOM, CLOSE, FRAC, BAR)
_OPERAND_STARTS = (ATOM, OPEN, FRAC, FUNC, BIG)
_DIFFERENTIALS = set("∂∇")  # written next to what they apply to, as one factor

_SUP = dict(zip("0123456789+-−=()", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁻⁼⁽⁾", strict=True))
_SUP.update(zip("abcdefghijklmnoprstuvwxyz", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ", strict=True))
_SUP.update(zip("ABDEGHIJKLMNOPRTUVW", "ᴬᴮᴰᴱᴳᴴᴵᴶᴷᴸᴹᴺᴼᴾᴿᵀᵁⱽᵂ", strict=True))
_SUP.update(zip("βγδθιφχ⊤⊺", "ᵝᵞᵟᶿᶥᵠᵡᵀᵀ", strict=True))
_SCRIPT_DIGITS = set("⁰¹²³⁴⁵⁶⁷⁸⁹")
_SUB_TOKEN = re.compile(r"[A-Za-z]+[0-9]*|[0-9]+(?:\.[0-9]+)?|\S")  # written bare after _
_SUP_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]+)?|\S")  # written bare after ^

# Symbols pylatexenc lacks or renders differently.
_SYMBOLS = {
    "ne": "≠", "iff": "⟺", "implies": "⟹", "impliedby": "⟸", "neg": "¬", "lnot": "¬", "land": "∧",
    "lor": "∨", "|": "‖", "Vert": "‖", "lVert": "‖", "rVert": "‖", "vert": "|", "lvert": "|", "rvert": "|",
    "lbrack": "[", "rbrack": "]", "{": "{", "}": "}", "lbrace": "{", "rbrace": "}", "colon": ":",
    "ldotp": ".", "cdotp": "·", "imath": "ı", "jmath": "ȷ", "prime": "′", "top": "⊤",
}
_FUNCS = {
    "arccos", "arcsin", "arctan", "arg", "argmax", "argmin", "cos", "cosh", "cot", "coth", "csc", "deg", "det",
    "dim", "exp", "gcd", "hom", "inf", "ker", "lg", "lim", "liminf", "limsup", "ln", "log", "max", "min", "Pr",
    "sec", "sin", "sinh", "sup", "tan", "tanh",
}
_SPACES = {
    " ": " ", ",": " ", ";": " ", ":": " ", ">": " ", "enspace": " ", "thinspace": " ", "medspace": " ",
    "thickspace": " ", "quad": "  ", "qquad": "    ", "!": "", "negthinspace": "", "negmedspace": "",
    "negthickspace": "",
}
_IGNORED = {
    "displaystyle", "textstyle", "scriptstyle", "scriptscriptstyle", "limits", "nolimits", "nonumber", "notag",
    "label", "tag", "color", "hline", "centering", "allowbreak", "strut", "mathstrut", "phantom", "hphantom",
    "vphantom",
}
_SIZES = {
    "left", "right", "middle", "big", "Big", "bigg", "Bigg", "bigl", "Bigl", "biggl", "Biggl", "bigr", "Bigr",
    "biggr", "Biggr", "bigm", "Bigm", "biggm", "Biggm",
}
_FRACS = {"frac", "dfrac", "tfrac", "cfrac"}
_BINOMS = {"binom", "dbinom", "tbinom"}
_TEXTS = {
    "text", "textrm", "textit", "textbf", "textsf", "texttt", "textnormal", "textup", "mbox", "hbox", "emph",
    "mathrm", "mathit", "mathup", "operatorname",
}
_STYLES = {"mathbb", "mathcal", "mathscr", "mathfrak", "mathsf", "mathtt", "mathbf"}
_PLAIN_STYLES = {"boldsymbol", "bm", "pmb", "mathbfit", "boxed", "underbrace", "overbrace"}
_ACCENTS = {
    "hat": ("\u0302", "hat"), "widehat": ("\u0302", "hat"), "bar": ("\u0304", "bar"),
    "overline": ("\u0304", "overline"), "tilde": ("\u0303", "tilde"), "widetilde": ("\u0303", "tilde"),
    "vec": ("\u20d7", "vec"), "overrightarrow": ("\u20d7", "vec"), "dot": ("\u0307", "dot"),
    "ddot": ("\u0308", "ddot"), "check": ("\u030c", "check"), "breve": ("\u0306", "breve"),
    "acute": ("\u0301", "acute"), "grave": ("\u0300", "grave"), "mathring": ("\u030a", "ring"),
    "underline": ("\u0332", "underline"),
}
_MATRICES = {
    "matrix": "[]", "smallmatrix": "[]", "pmatrix": "()", "bmatrix": "[]", "Bmatrix": "{}", "vmatrix": "||",
    "Vmatrix": "‖‖",
}
# Macros pylatexenc's parser does not know, with their arguments, so that the arguments stay theirs.
_EXTRA_MACROS = {
    "dfrac": "{{", "tfrac": "{{", "cfrac": "[{{", "binom": "{{", "dbinom": "{{", "tbinom": "{{",
    "operatorname": "*{", "boldsymbol": "{", "bm": "{", "pmb": "{", "mathbfit": "{", "boxed": "{",
    "overset": "{{", "underset": "{{", "stackrel": "{{", "tag": "*{", "label": "{", "phantom": "{",
    "hphantom": "{", "vphantom": "{", "mathup": "{",
}


@dataclass
class _Piece:
    """One symbol, operator or structure of a formula, before spacing is decided."""

    text: str
    kind: str
    tail: str = ""  # "ascii" or "unicode": the piece ends with a sub- or superscript written so
    sup: bool = False  # carries a superscript
    even: bool = False  # an operator spaced only when the notes space it
    forced: bool = False  # an operator always spaced (\mid)
    binary: bool = field(default=False, compare=False)  # set by the layout: has an operand on its left
    spaced: bool = field(default=False, compare=False)  # set by the layout
    wrapped: bool = field(default=False, compare=False)  # set by the layout: a fraction bracketed whole


class _Layout(NamedTuple):
    text: str
    compound: bool  # more than one term at the top level (an operator, a space, a separator)
    factors: int  # factors written side by side at the top level
    signed: bool  # starts with a prefix operator (-x)


def _classify(text: str) -> _Piece:
    if text in _REL:
        return _Piece(text, REL)
    if text in _BIN or text in _EVEN:
        return _Piece(text, BIN, even=text in _EVEN)
    if text in _BARS:
        return _Piece(text, BAR, even=True)
    if text in _OPEN:
        return _Piece(text, OPEN)
    if text in _CLOSE:
        return _Piece(text, CLOSE)
    if text in _PUNCT:
        return _Piece(text, PUNCT)
    if text in _BIG:
        return _Piece(text, BIG)
    return _Piece(text, ATOM)


def _wrapped(text: str) -> bool:
    """Whether ``text`` is one parenthesised group: ``(a + b)`` but not ``(a)(b)``."""
    if not (text.startswith("(") and text.endswith(")")):
        return False
    depth = 0
    for i, ch in enumerate(text):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0 and i < len(text) - 1:
            return False
    return True


def _paren(text: str) -> str:
    return text if _wrapped(text) else f"({text})"


def _script_form(which: str, text: str, ascii_only: bool) -> tuple[str, str]:
    """A script's text as written after its base, and whether it is "unicode" or "ascii"."""
    if which == "^" and not ascii_only and all(ch in _SUP for ch in text):
        if sum(ch.isalpha() or ch in "⊤⊺" for ch in text) <= 1:
            return "".join(_SUP[ch] for ch in text), "unicode"
    token = _SUP_TOKEN if which == "^" else _SUB_TOKEN
    if token.fullmatch(text) or _wrapped(text):
        return which + text, "ascii"
    return f"{which}({text})", "ascii"


def _starts_word(text: str) -> bool:
    return bool(text) and (text[0].isalnum() or unicodedata.category(text[0])[0] in "LNS")


def _is_letter(piece: _Piece) -> bool:
    return piece.kind == ATOM and not piece.tail and len(piece.text) == 1 and piece.text.isalpha()


@lru_cache(maxsize=1)
def _walker_context() -> Any:
    from pylatexenc import latexwalker, macrospec  # type: ignore[import-untyped, unused-ignore]

    db = latexwalker.get_default_latex_context_db()
    db.add_context_category(
        "llmcards", prepend=True,
        macros=[macrospec.MacroSpec(name, spec) for name, spec in _EXTRA_MACROS.items()],
    )
    return db


@lru_cache(maxsize=1)
def _renderer() -> _Renderer:
    return _Renderer()


def parse(latex: str) -> list[Any]:
    """pylatexenc's nodes for a formula, read in math mode; raises on unbalanced braces and the like."""
    from pylatexenc.latexwalker import LatexWalker  # type: ignore[import-untyped, unused-ignore]

    walker = LatexWalker(latex, latex_context=_walker_context(), tolerant_parsing=False)
    nodes, _, _ = walker.get_latex_nodes(parsing_state=walker.make_parsing_state(in_math_mode=True))
    return list(nodes)


def render(latex: str, *, lines: bool = False) -> str:
    """``latex`` (without dollars) as Unicode; with ``lines`` (display math), one line per formula line."""
    renderer = _renderer()
    pieces = renderer.build(renderer.items(parse(latex)), tight=False, lines=lines)
    rows: list[list[_Piece]] = [[]]
    for piece in pieces:
        if piece.kind == BREAK:
            rows.append([])
        else:
            rows[-1].append(piece)
    texts = (renderer.layout(row, tight=False).text.strip() for row in rows)
    return "\n".join(text for text in texts if text)


class _Renderer:
    """Builds pieces from pylatexenc nodes and lays them out as text."""

    def __init__(self) -> None:
        from pylatexenc.latex2text import LatexNodes2Text  # type: ignore[import-untyped, unused-ignore]

        # pylatexenc logs a warning for a macro it cannot fill in; without a handler Python would
        # print it over the review screen. An application that sets up logging still sees it.
        logging.getLogger("pylatexenc").addHandler(logging.NullHandler())
        self._l2t = LatexNodes2Text(math_mode="text", strict_latex_spaces=False)

    # --- nodes to pieces -------------------------------------------------------------------

    @staticmethod
    def items(nodes: Sequence[Any]) -> list[Any]:
        """Nodes as a flat stream: characters (a whitespace run as one) and the other nodes."""
        out: list[Any] = []
        for node in nodes:
            if node is None:
                continue
            kind = type(node).__name__
            if kind == "LatexCharsNode":
                out.extend(m.group(0) for m in re.finditer(r"\s+|.", node.chars, re.S))
            elif kind == "LatexSpecialsNode" and node.specials_chars not in ("&", "~"):
                out.extend(node.specials_chars)  # `--` or `''` in math: its characters
            elif kind != "LatexCommentNode":
                out.append(node)
        return out

    def arg_items(self, node: Any) -> list[Any]:
        if node is None:
            return []
        if type(node).__name__ == "LatexGroupNode":
            return self.items(node.nodelist)
        return self.items([node])

    @staticmethod
    def _skip_space(items: list[Any], i: int) -> int:
        while i < len(items) and isinstance(items[i], str) and items[i].isspace():
            i += 1
        return i

    def _followed_by_script(self, items: list[Any], i: int) -> bool:
        j = self._skip_space(items, i)
        return j < len(items) and isinstance(items[j], str) and items[j] in ("^", "_")

    def build(self, items: list[Any], *, tight: bool, lines: bool) -> list[_Piece]:
        out: list[_Piece] = []
        i = 0
        while i < len(items):
            item = items[i]
            if isinstance(item, str):
                i = self._char(item, items, i + 1, out, tight, lines)
            else:
                i = self._node(item, items, i + 1, out, tight, lines)
        return out

    def _char(self, ch: str, items: list[Any], i: int, out: list[_Piece], tight: bool, lines: bool) -> int:
        def nxt(k: int = 0) -> str:
            j = i + k
            return items[j] if j < len(items) and isinstance(items[j], str) else ""

        if ch.isspace():
            out.append(_Piece("", BREAK) if lines and "\n" in ch else _Piece(" ", SPACE))
            return i
        if ch in "^_":
            j = self._skip_space(items, i)
            if j >= len(items):
                out.append(_Piece(ch, ATOM))
                return j
            arg = items[j]
            self._script(out, ch, [arg] if isinstance(arg, str) else self.arg_items(arg), tight)
            return j + 1
        if ch == "'":
            self._prime(out)
            return i
        if ch.isdigit():
            text = ch
            while nxt().isdigit() or (nxt() == "." and nxt(1).isdigit() and "." not in text):
                text += nxt()
                i += 1
            out.append(_Piece(text, ATOM))
            return i
        if ch in "<>!" and nxt() == "=":
            out.append(_Piece({"<": "≤", ">": "≥", "!": "≠"}[ch], REL))
            return i + 1
        if ch == "." and nxt() == "." and nxt(1) == ".":
            out.append(_Piece("...", ATOM))
            return i + 2
        out.append(_classify(ch))
        return i

    def _node(self, node: Any, items: list[Any], i: int, out: list[_Piece], tight: bool, lines: bool) -> int:
        kind = type(node).__name__
        if kind == "LatexGroupNode":
            self._group(self.items(node.nodelist), items, i, out, tight)
        elif kind == "LatexMacroNode":
            return self._macro(node, items, i, out, tight, lines)
        elif kind == "LatexSpecialsNode":  # & (alignment) or ~ (unbreakable space)
            out.append(_Piece(" ", SPACE if node.specials_chars == "&" else HARD))
        elif kind == "LatexMathNode":
            out.extend(self.build(self.items(node.nodelist), tight=tight, lines=False))
        elif kind == "LatexEnvironmentNode":
            self._environment(node, out, tight, lines)
        return i

    def _group(self, inner: list[Any], items: list[Any], i: int, out: list[_Piece], tight: bool) -> None:
        """A braced group: its pieces, or one piece when a script follows (``{d_k}^2``, ``{ab}^2``)."""
        pieces = self.build(inner, tight=tight, lines=False)
        if self._followed_by_script(items, i):
            out.append(self._compound(pieces, tight))
        else:
            out.extend(pieces)

    def _compound(self, pieces: list[_Piece], tight: bool) -> _Piece:
        solid = [p for p in pieces if p.kind not in (SPACE, HARD, BREAK)]
        if len(solid) == 1 and solid[0].kind in (ATOM, CLOSE, FUNC, BIG):
            return solid[0]
        if not solid:
            return _Piece("", ATOM)
        return _Piece(_paren(self.layout(pieces, tight=tight).text), ATOM)

    def _script(self, out: list[_Piece], which: str, arg: list[Any], tight: bool) -> None:
        while out and out[-1].kind == SPACE:
            out.pop()
        base = out[-1] if out and out[-1].kind in (ATOM, CLOSE, FUNC, BIG, FRAC, BAR) else None
        text = self.layout(self.build(arg, tight=True, lines=False), tight=True).text
        if not text:
            return
        if which == "^" and text.replace("'", "′").strip("′") == "":
            form, tail = text.replace("'", "′"), ""
        else:
            form, tail = _script_form(which, text, ascii_only=base is not None and base.kind == BIG)
        if base is None:
            base = _Piece("", ATOM)
            out.append(base)
        elif base.kind == FRAC or (which == "^" and base.sup):
            base.kind, base.text, base.tail = ATOM, f"({base.text})", ""
        elif base.kind == BAR:  # |x|_2: a closing bar
            base.kind = CLOSE
        base.text += form
        base.tail = tail or base.tail
        base.sup = base.sup or which == "^"

    @staticmethod
    def _prime(out: list[_Piece]) -> None:
        if out and out[-1].kind not in (SPACE, HARD, BREAK):
            out[-1].text += "′"
        else:
            out.append(_Piece("′", ATOM))

    def _symbol(self, node: Any) -> str | None:
        """A macro's Unicode from pylatexenc (or this module's table); None for a macro it does not know."""
        name = node.macroname
        if name in _SYMBOLS:
            return _SYMBOLS[name]
        if self._l2t.latex_context.get_macro_spec(name) is None:
            return None
        return str(self._l2t.nodelist_to_text([node]))

    def _text(self, node: Any) -> str:
        """A text-mode argument as it reads (``\\text{d\\_model}`` -> ``d_model``)."""
        return re.sub(r"\s+", " ", str(self._l2t.nodelist_to_text([node])))

    def _macro(self, node: Any, items: list[Any], i: int, out: list[_Piece], tight: bool, lines: bool) -> int:
        name: str = node.macroname
        args: list[Any] = list(node.nodeargd.argnlist) if node.nodeargd is not None else []
        if name in _SIZES:
            return self._delimiter(name, items, i, out)
        if name == "\\":
            out.append(_Piece("", BREAK) if lines else _Piece(" ", HARD))
        elif name in _SPACES:
            if _SPACES[name]:
                out.append(_Piece(_SPACES[name], HARD))
        elif name in _IGNORED:
            pass
        elif name in _FRACS and len(args) >= 2:
            out.append(self._fraction(args[-2], args[-1], tight))
        elif name in _BINOMS and len(args) >= 2:
            top, bottom = (self._layout_arg(a, tight).text for a in args[-2:])
            out.append(_Piece(f"C({top}, {bottom})", ATOM))
        elif name == "sqrt" and args:
            out.append(self._sqrt(args[0] if len(args) > 1 else None, args[-1], tight))
        elif name in _TEXTS and args:
            self._text_macro(name, args[-1], out)
        elif name in _STYLES and args and re.fullmatch(r"[A-Za-z0-9]+", self._text(args[-1])):
            out.append(_Piece(str(self._l2t.nodelist_to_text([node])), ATOM))
        elif (name in _STYLES or name in _PLAIN_STYLES or name == "textcolor") and args:
            self._group(self.arg_items(args[-1]), items, i, out, tight)
        elif name in _ACCENTS and args:
            out.append(self._accent(name, args[-1], tight))
        elif name == "not" and args:
            out.append(_classify(unicodedata.normalize("NFC", self._layout_arg(args[-1], tight).text + "\u0338")))
        elif name in ("overset", "underset", "stackrel") and len(args) >= 2:
            base = self._compound(self.build(self.arg_items(args[-1]), tight=tight, lines=False), tight)
            out.append(base)
            self._script(out, "_" if name == "underset" else "^", self.arg_items(args[-2]), tight)
            base.kind = REL if base.text[:1] in _REL else base.kind
        elif name in _FUNCS:
            out.append(_Piece(name, FUNC))
        elif name == "prime":
            self._prime(out)
        else:
            self._other_macro(node, name, args, out, tight)
        if not args and node.macro_post_space:
            out.append(_Piece("", BREAK) if lines and "\n" in node.macro_post_space else _Piece(" ", SPACE))
        return i

    def _other_macro(self, node: Any, name: str, args: list[Any], out: list[_Piece], tight: bool) -> None:
        symbol = self._symbol(node)
        if symbol is None:  # unknown to pylatexenc: its name, so that nothing is lost
            out.append(_Piece(name, FUNC if name.isalpha() and len(name) > 1 else ATOM))
            for arg in args:
                out.extend(self.build(self.arg_items(arg), tight=tight, lines=False))
        elif symbol.strip():
            symbol = symbol.strip()
            if name in ("mid", "middle"):
                out.append(_Piece(symbol, BAR, forced=True))
            elif symbol == "'":
                self._prime(out)
            else:
                out.append(_classify(symbol))

    def _delimiter(self, name: str, items: list[Any], i: int, out: list[_Piece]) -> int:
        """``\\left(``, ``\\big[``, ``\\right.``: the delimiter that follows the sizing macro."""
        j = self._skip_space(items, i)
        if j >= len(items):
            return j
        item = items[j]
        text = item if isinstance(item, str) else (self._symbol(item) or "")
        if text in ("", "."):
            return j + 1
        if name == "left" or name.endswith("l"):
            out.append(_Piece(text, OPEN))
        elif name == "right" or name.endswith("r"):
            out.append(_Piece(text, CLOSE))
        elif name == "middle" or name.endswith("m"):
            out.append(_Piece(text, BAR, forced=True))
        else:
            out.append(_classify(text))
        return j + 1

    def _layout_arg(self, node: Any, tight: bool) -> _Layout:
        return self.layout(self.build(self.arg_items(node), tight=tight, lines=False), tight=tight)

    def _fraction(self, num: Any, den: Any, tight: bool) -> _Piece:
        top = self._layout_arg(num, tight)
        bottom = self._layout_arg(den, tight)
        top_text = _paren(top.text) if top.compound else top.text
        bottom_text = _paren(bottom.text) if bottom.compound or bottom.factors > 1 or bottom.signed else bottom.text
        return _Piece(f"{top_text}/{bottom_text}", FRAC)

    def _sqrt(self, index: Any, radicand: Any, tight: bool) -> _Piece:
        body = f"√({self._layout_arg(radicand, tight).text})"
        if index is None:
            return _Piece(body, ATOM)
        idx = self._layout_arg(index, True).text
        if idx in ("3", "4"):
            return _Piece(("∛" if idx == "3" else "∜") + body[1:], ATOM)
        form, tail = _script_form("^", idx, ascii_only=False)
        return _Piece((form if tail == "unicode" else f"({idx})") + body, ATOM)

    def _text_macro(self, name: str, arg: Any, out: list[_Piece]) -> None:
        text = self._text(arg)
        if not text.strip():
            out.append(_Piece(text, HARD) if text else _Piece("", SPACE))
            return
        if text[0] == " ":
            out.append(_Piece(" ", HARD))
        out.append(_Piece(text.strip(), FUNC if name == "operatorname" else ATOM))
        if text[-1] == " ":
            out.append(_Piece(" ", HARD))

    def _accent(self, name: str, arg: Any, tight: bool) -> _Piece:
        mark, word = _ACCENTS[name]
        inner = self._layout_arg(arg, tight).text
        if len(inner) == 1:
            return _Piece(unicodedata.normalize("NFC", inner + mark), ATOM)
        return _Piece(f"{word}({inner})", ATOM)

    def _environment(self, node: Any, out: list[_Piece], tight: bool, lines: bool) -> None:
        """Matrices as ``[a b; c d]``; aligned equations one per line in display math, else joined by ``;``."""
        rows: list[list[list[Any]]] = [[[]]]
        for item in self.items(node.nodelist):
            if not isinstance(item, str) and type(item).__name__ == "LatexMacroNode" and item.macroname == "\\":
                rows.append([[]])
            elif not isinstance(item, str) and type(item).__name__ == "LatexSpecialsNode":
                rows[-1].append([])
            else:
                rows[-1][-1].append(item)
        cells = [[self.layout(self.build(c, tight=tight, lines=False), tight=tight).text.strip() for c in row]
                 for row in rows]
        texts = [(", " if node.environmentname == "cases" else " ").join(c for c in row if c) for row in cells]
        texts = [t for t in texts if t]
        name = node.environmentname.rstrip("*")
        if name in _MATRICES:
            brackets = _MATRICES[name]
            out.append(_Piece(brackets[0] + "; ".join(texts) + brackets[1], ATOM))
        elif name == "cases":
            out.append(_Piece("{ " + "; ".join(texts) + " }", ATOM))
        elif lines:
            for k, text in enumerate(texts):
                if k:
                    out.append(_Piece("", BREAK))
                out.append(_Piece(text, ATOM))
        else:
            out.append(_Piece("; ".join(texts), ATOM))

    # --- pieces to text ----------------------------------------------------------------------

    def layout(self, pieces: list[_Piece], *, tight: bool) -> _Layout:
        """Join pieces with the spacing their kinds call for."""
        toks: list[_Piece] = []
        soft: list[bool] = []
        hard: list[str] = []
        pending_soft, pending_hard = False, ""
        for piece in pieces:
            if piece.kind in (SPACE, BREAK):
                pending_soft = True
            elif piece.kind == HARD:
                pending_hard += piece.text
            else:
                toks.append(piece)
                soft.append(pending_soft)
                hard.append(pending_hard)
                pending_soft, pending_hard = False, ""
        soft.append(pending_soft)
        hard.append(pending_hard)
        for k, tok in enumerate(toks):
            prev = toks[k - 1] if k else None
            nxt = toks[k + 1] if k + 1 < len(toks) else None
            if tok.kind in (BIN, REL, BAR):
                tok.binary = prev is not None and prev.kind in _OPERANDS
                if tight or not tok.binary:
                    tok.spaced = False
                elif tok.forced:
                    tok.spaced = True
                elif tok.kind == BAR:  # `p(y |x)` is spaced as a separator; the closing bar of `|x| + 1` is not
                    tok.spaced = (soft[k] or bool(hard[k])) and nxt is not None and nxt.kind in _OPERAND_STARTS
                elif tok.even:
                    tok.spaced = soft[k] or bool(hard[k]) or soft[k + 1] or bool(hard[k + 1])
                else:
                    tok.spaced = tok.text not in _TIGHT
            elif tok.kind == FRAC:
                tok.wrapped = bool((prev is not None and prev.kind in (ATOM, CLOSE, FRAC, FUNC))
                                   or (nxt is not None and nxt.kind in (ATOM, OPEN, FRAC, FUNC, BIG)))
        kept = [soft[k] and (self._wordy(toks, soft, hard, k - 1) or self._wordy(toks, soft, hard, k) or (
            toks[k - 1].text.isdigit() and toks[k].text[:1].isdigit())) for k in range(len(toks))]
        parts: list[str] = []
        depth, compound, factors = 0, False, 0
        prev = None
        for k, tok in enumerate(toks):
            if tok.kind == CLOSE:
                depth = max(depth - 1, 0)
            if prev is not None:
                gap = self._gap(prev, tok, soft[k], hard[k], kept[k])
                parts.append(gap)
                compound = compound or (depth == 0 and gap != "")
            if depth == 0:
                compound = compound or tok.kind in (REL, PUNCT) or (tok.kind in (BIN, BAR) and tok.binary) \
                    or (tok.kind == FRAC and not tok.wrapped)
                starts_factor = tok.kind in (ATOM, FRAC, FUNC, BIG) or (
                    tok.kind == OPEN and (prev is None or prev.kind not in (ATOM, FUNC)))
                same = prev is not None and (
                    (_is_letter(prev) and _is_letter(tok)) or (prev.kind == ATOM and prev.text in _DIFFERENTIALS))
                if starts_factor and not same:
                    factors += 1
            parts.append(f"({tok.text})" if tok.kind == FRAC and tok.wrapped else tok.text)
            if tok.kind == OPEN:
                depth += 1
            prev = tok
        signed = bool(toks) and toks[0].kind in (BIN, REL) and not toks[0].binary
        return _Layout("".join(parts), compound, factors, signed)

    @staticmethod
    def _wordy(toks: list[_Piece], soft: list[bool], hard: list[str], k: int) -> bool:
        """Whether token ``k`` is part of a word (``log``, ``\\text{softmax}``) rather than a lone symbol."""
        if k < 0:
            return False
        tok = toks[k]
        if tok.kind == ATOM and not tok.tail and len(tok.text) > 1 and tok.text.isalpha():
            return True
        if not _is_letter(tok):
            return False
        joined_before = k > 0 and _is_letter(toks[k - 1]) and not soft[k] and not hard[k]
        joined_after = k + 1 < len(toks) and _is_letter(toks[k + 1]) and not soft[k + 1] and not hard[k + 1]
        return joined_before or joined_after

    @staticmethod
    def _gap(left: _Piece, right: _Piece, soft: bool, hard: str, kept: bool) -> str:
        """The space between two pieces: none, a space, or ``·`` after a scripted symbol.

        ``soft`` says the notes put a space there; ``kept`` that it separates words (``β log``),
        as LaTeX drops a space between symbols (``4 \\Phi`` is 4Φ, ``\\lambda t`` is λt).
        """
        if hard:
            return hard
        if right.kind in (BIN, REL, BAR) and right.binary:
            return " " if right.spaced else ""
        if left.kind in (BIN, REL, BAR):
            return " " if left.binary and left.spaced else ""
        if right.kind == PUNCT:
            return ""
        if left.kind == PUNCT:
            return " " if soft else ""
        if left.kind == OPEN or right.kind == CLOSE:
            return ""
        opens = right.kind == OPEN or (right.kind == FRAC and right.wrapped)
        if left.kind == FUNC:
            return "" if opens and not left.tail else " "
        if left.kind == BIG:
            return " " if left.tail or soft else ""
        if opens:
            return ""
        if right.kind in (FUNC, BIG) and left.kind in (ATOM, CLOSE, FRAC):
            return " "
        if right.kind in (ATOM, FRAC) and _starts_word(right.text):
            if left.tail == "ascii" or (left.text[-1:] in _SCRIPT_DIGITS and right.text[0].isdigit()):
                return " " if soft or left.text[:1] in _DIFFERENTIALS else "·"
        return " " if kept else ""
