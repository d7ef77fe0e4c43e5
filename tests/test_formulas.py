"""Formulas read like the formulas in the notes (issue 14): the bank's snapshot, the issue's rows, properties."""

from __future__ import annotations

import importlib.util
import re
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from llmcards.render import answer_renderable
from llmcards.text import latex_to_unicode, markdown_source, plain

REPO_ROOT = Path(__file__).resolve().parents[1]


def _snapshot_tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("formula_snapshot", REPO_ROOT / "tools" / "formula_snapshot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("formula_snapshot", module)
    spec.loader.exec_module(module)
    return module


SNAPSHOT = _snapshot_tool()


def _screen(markdown: str, width: int = 120) -> str:
    """What `llmcards show` and the review screen print for an answer (non-breaking spaces as spaces)."""
    console = Console(width=width, record=True, color_system=None)
    console.print(answer_renderable(markdown))
    return "\n".join(line.rstrip() for line in console.export_text().replace("\xa0", " ").splitlines())


# --- every formula in the bank -------------------------------------------------------------------


def test_snapshot_lists_every_formula_in_the_bank() -> None:
    in_file = [(kind, latex) for kind, latex, _ in SNAPSHOT.read_snapshot()]
    assert in_file == SNAPSHOT.bank_formulas(), "run `python tools/formula_snapshot.py --update` and read the diff"


@pytest.mark.parametrize("kind,latex,expected", SNAPSHOT.read_snapshot())
def test_bank_formula_renders_as_in_the_snapshot(kind: str, latex: str, expected: str) -> None:
    assert latex_to_unicode(latex, display=kind == "$$") == expected


# --- the issue's table, as `show` and the review screen print it ---------------------------------

ISSUE_ROWS = [
    (r"\frac{pos}{10000^{2i/d_{\text{model}}}}", "pos/10000^(2i/d_model)"),
    (r"\frac{1}{{d_k}^{\frac{2}{3}}}", "1/d_k^(2/3)"),
    (r"\frac{2\Phi}{D_{tp}D_{pp}}", "2Φ/(D_tp·D_pp)"),
    (r"d_{hidden}d_{FFN}", "d_hidden·d_FFN"),
    (r"\sum_{i=0}^{dk}q_i", "∑_(i=0)^(dk) q_i"),
    (r"rank(A+B)<=rank(A)+rank(B)", "rank(A + B) ≤ rank(A) + rank(B)"),
    (r"\sqrt{\bar{x^2}+\epsilon}", "√(bar(x²) + ϵ)"),
    (r"V_{vocab} \cdot d_{model}", "V_vocab·d_model"),
]


@pytest.mark.parametrize("latex,expected", ISSUE_ROWS)
def test_issue_row_in_plain_text(latex: str, expected: str) -> None:
    assert latex_to_unicode(latex) == expected
    assert plain(f"公式 ${latex}$ 如上") == f"公式 {expected} 如上"


@pytest.mark.parametrize("latex,expected", ISSUE_ROWS)
def test_issue_row_on_screen(latex: str, expected: str) -> None:
    """Through markdown_source and Rich Markdown: `_`, `*` and `^` stay literal, nothing turns into emphasis."""
    assert f"公式 {expected} 如上" in _screen(f"公式 ${latex}$ 如上")
    assert f"• {expected}" in _screen(f"* ${latex}$")


def test_relations_stay_whole() -> None:
    for latex in (r"a <= b", r"a\le b", r"a \leq b"):
        assert latex_to_unicode(latex) == "a ≤ b"
    for latex in (r"a >= b", r"a\ge b", r"a \geq b"):
        assert latex_to_unicode(latex) == "a ≥ b"
    for latex in (r"a != b", r"a\ne b", r"a \neq b"):
        assert latex_to_unicode(latex) == "a ≠ b"
    assert latex_to_unicode(r"<1\Phi") == "<1Φ"  # a relation with nothing on its left stays tight


def test_accents_never_sit_on_a_caret_or_a_parenthesis() -> None:
    assert latex_to_unicode(r"\bar{x}") == "x̄"
    assert latex_to_unicode(r"\tilde{Q}(m)") == "Q̃(m)"
    assert latex_to_unicode(r"\bar{x^2}") == "bar(x²)"
    assert latex_to_unicode(r"\hat{y_i}") == "hat(y_i)"
    for latex in (r"\bar{x^2}", r"\hat{y_i}", r"\tilde{(a+b)}", r"\bar{x}^{n+1}"):
        out = latex_to_unicode(latex)
        for i, ch in enumerate(out):
            if unicodedata.combining(ch):
                assert i > 0 and out[i - 1].isalpha(), (latex, out)


def test_binary_operators_are_spaced_evenly() -> None:
    for latex in (r"a+b", r"a +b", r"a+ b", r"a  +   b"):
        assert latex_to_unicode(latex) == "a + b"
    assert latex_to_unicode(r"a\times b") == "a × b"
    assert latex_to_unicode(r"a \cdot b") == latex_to_unicode(r"a\cdot b") == "a·b"
    assert latex_to_unicode(r"a-(i-1)") == "a - (i - 1)"
    assert latex_to_unicode(r"[-(i-1),-2]") == "[-(i - 1),-2]"  # a sign is not an operator
    assert latex_to_unicode(r"x = -1") == "x = -1"
    assert latex_to_unicode(r"p(y |x)") == "p(y | x)"  # | follows the notes, evenly
    assert latex_to_unicode(r"|x| + |y|") == "|x| + |y|"


def test_scripts_use_unicode_only_for_a_whole_group() -> None:
    assert latex_to_unicode(r"10^{12}") == "10¹²"
    assert latex_to_unicode(r"x^2") == "x²"
    assert latex_to_unicode(r"K^T") == "Kᵀ"
    assert latex_to_unicode(r"d^2_{model}") == "d²_model"
    assert latex_to_unicode(r"7\times 10^{-8}") == "7 × 10⁻⁸"
    assert latex_to_unicode(r"C^{0.73}") == "C^0.73"  # no superscript dot: all ASCII
    assert latex_to_unicode(r"e^{-\lambda t}") == "e^(-λt)"  # no superscript λ: all ASCII
    assert latex_to_unicode(r"x^{ab}") == "x^(ab)"  # two letters: ASCII
    assert latex_to_unicode(r"x_{12}") == "x_12"  # subscripts always ASCII


def test_display_math_keeps_its_lines_as_an_indented_block() -> None:
    answer = "最优组合：\n$$\nN \\propto C^{0.73} \\\\\nB \\propto C^{0.24}\n$$\n后文"
    assert plain(answer) == "最优组合：\n    N ∝ C^0.73\n    B ∝ C^0.24\n后文"
    assert _screen(answer).splitlines() == ["最优组合：", "    N ∝ C^0.73", "    B ∝ C^0.24", "后文"]
    # the notes' own line breaks count too (rope-principle writes `\ ` at the end of a line)
    assert latex_to_unicode("a = b \\ \nc = d", display=True) == "a = b\nc = d"


def test_display_math_in_a_list_item_or_a_sentence() -> None:
    item = "* 组合：\n\n  $$\n  N \\propto C^{0.73}  \\\\\n  S \\propto C^{0.03}\n  $$\n* 下一项"
    lines = _screen(item).splitlines()
    assert any(line.endswith("     N ∝ C^0.73") for line in lines)
    assert any(line.endswith("     S ∝ C^0.03") for line in lines)
    assert "$" not in "".join(lines) and "下一项" in lines[-1]
    sentence = "显存 $$M_{Model} = 4 \\Phi$$ 其中"
    assert plain(sentence).splitlines()[:2] == ["显存 ", "    M_Model = 4Φ"]
    assert [line.strip() for line in _screen(sentence).splitlines()] == ["显存", "M_Model = 4Φ", "其中"]


def test_inline_math_stays_inline() -> None:
    assert plain("总计算量$C \\approx 6\\cdot N\\cdot D$。") == "总计算量C ≈ 6·N·D。"
    assert latex_to_unicode(r"a \\ b") == "a b"


def test_unparsable_formula_is_shown_as_written() -> None:
    for latex in (r"\frac{a}", r"a}b", r"{a", r"\sqrt"):
        assert latex_to_unicode(latex) == latex
    assert plain(r"见 $\frac{a}$ 处") == r"见 \frac{a} 处"


def test_percent_is_not_a_comment() -> None:
    assert latex_to_unicode(r"50% \cdot x") == "50%·x"
    assert latex_to_unicode(r"100\%") == "100%"


def test_readme_formula_example_is_what_the_code_prints() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    promises = re.findall(r"`\$([^`$]+)\$`\s+as readable Unicode \(`([^`]+)`\)", readme)
    assert promises, "the README's formula example moved: update this test"
    for latex, shown in promises:
        assert latex_to_unicode(latex) == shown
        assert shown in _screen(f"${latex}$")


# --- properties over generated expressions --------------------------------------------------------
# An expression is a tree; its letters are all different, so each can be found in the output.

Tree = tuple[Any, ...]  # ("leaf",) | ("num", s) | ("greek", s) | ("seq", [t]) | ("bin", t, op, t) | ("frac", t, t)
#              | ("sup"/"sub", base, t) with base ("leaf",) or ("group", t) | ("sum", t, t, t) | ("sqrt", t)

OPERATORS = ["+", "-", "=", r"\times", r"\cdot", "<=", r"\le", r"\ne", ">=", r"\approx"]
ATOMS = st.one_of(
    st.just(("leaf",)),
    st.sampled_from(["2", "10", "0.5"]).map(lambda n: ("num", n)),
    st.sampled_from([r"\alpha", r"\Phi", r"\theta", r"\epsilon"]).map(lambda g: ("greek", g)),
)


def _extend(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    bases = st.one_of(st.just(("leaf",)), children.map(lambda c: ("group", c)))
    return st.one_of(
        st.tuples(st.just("seq"), st.lists(children, min_size=2, max_size=3)),
        st.tuples(st.just("bin"), children, st.sampled_from(OPERATORS), children),
        st.tuples(st.just("frac"), children, children),
        st.tuples(st.sampled_from(["sup", "sub"]), bases, children),
        st.tuples(st.just("sum"), children, children, children),
        st.tuples(st.just("sqrt"), children),
    )


TREES = st.recursive(ATOMS, _extend, max_leaves=10)
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class _Groups:
    """The LaTeX of a tree, and each brace group's letters with what the output must do with it."""

    def __init__(self) -> None:
        self.letters: Iterator[str] = iter(LETTERS)
        self.groups: list[tuple[int, str, list[str]]] = []  # (id, where: sup sub sqrt num den base, letters)
        self.count = 0
        self.open_sups: list[int] = []  # superscript groups being written
        self.sups: dict[str, tuple[int, ...]] = {}  # letter -> the superscript groups it is in

    def tex(self, tree: Tree, out: list[str]) -> str:
        kind = tree[0]
        if kind == "leaf":
            letter = next(self.letters)
            self.sups[letter] = tuple(self.open_sups)
            out.append(letter)
            return letter
        if kind == "num":
            return str(tree[1])
        if kind == "greek":
            return f"{tree[1]} "
        if kind == "seq":
            return " ".join(self.tex(child, out) for child in tree[1])
        if kind == "bin":
            return f"{self.tex(tree[1], out)} {tree[2]} {self.tex(tree[3], out)}"
        if kind == "frac":
            num = self.group(tree[1], "num" if tree[1][0] == "bin" else "", out)
            den = self.group(tree[2], "den" if tree[2][0] == "bin" or self._factors(tree[2]) else "", out)
            return rf"\frac{{{num}}}{{{den}}}"
        if kind in ("sup", "sub"):
            base = tree[1]
            compound = base[0] == "group" and base[1][0] in ("seq", "bin", "frac")
            base_tex = self.tex(base, out) if base[0] == "leaf" else "{" + self.group(
                base[1], "base" if compound else "", out) + "}"
            return f"{base_tex}{'^' if kind == 'sup' else '_'}{{{self.group(tree[2], kind, out)}}}"
        if kind == "sum":
            lower, upper = self.group(tree[1], "sub", out), self.group(tree[2], "sup", out)
            return rf"\sum_{{{lower}}}^{{{upper}}} {self.tex(tree[3], out)}"
        if kind == "sqrt":
            return rf"\sqrt{{{self.group(tree[1], 'sqrt', out)}}}"
        raise AssertionError(tree)

    @staticmethod
    def _factors(tree: Tree) -> bool:
        """A denominator of several factors: side by side, and not only plain letters (a name like `pos`)."""
        return tree[0] == "seq" and not all(child[0] in ("leaf", "greek") for child in tree[1])

    def group(self, tree: Tree, where: str, out: list[str]) -> str:
        """A brace group; ``where`` it is, when the output must keep it together (else "")."""
        self.count += 1
        gid = self.count
        if where == "sup":
            self.open_sups.append(gid)
        mine: list[str] = []
        tex = self.tex(tree, mine)
        if where == "sup":
            self.open_sups.pop()
        out.extend(mine)
        if where in ("sup", "sub") and mine or where and mine and (len(mine) > 1 or tree[0] != "leaf"):
            self.groups.append((gid, where, mine))
        return tex


def _letter_at(ch: str) -> str:
    folded = unicodedata.normalize("NFKC", ch)
    return folded if len(folded) == 1 and folded in LETTERS else ""


def _matching(text: str) -> dict[int, int]:
    pairs, stack = {}, []
    for i, ch in enumerate(text):
        if ch == "(":
            stack.append(i)
        elif ch == ")":
            assert stack, f"unbalanced ) in {text!r}"
            pairs[stack.pop()] = i
    assert not stack, f"unbalanced ( in {text!r}"
    return pairs


@settings(max_examples=300, deadline=None)
@given(TREES)
def test_every_brace_group_stays_one_group(tree: Tree) -> None:
    groups = _Groups()
    letters: list[str] = []
    latex = groups.tex(tree, letters)
    out = latex_to_unicode(latex)
    assert "{" not in out and "}" not in out and "\\" not in out, (latex, out)
    pairs = _matching(out)
    where = {}
    for i, ch in enumerate(out):
        letter = _letter_at(ch)
        if letter:
            assert letter not in where, f"{letter!r} twice in {out!r} from {latex!r}"
            where[letter] = i
    assert set(where) == set(letters), (latex, out)
    for gid, kind, members in groups.groups:
        positions = sorted(where[m] for m in members)
        first, last = positions[0], positions[-1]
        raised = {m for m in members if out[where[m]] != m}  # written as superscript letters
        if kind == "sup" and raised == set(members):  # all in Unicode superscripts, nothing else in that run
            run = {_letter_at(ch) for ch in out[first:last + 1]} - {""}
            assert run == set(members), f"superscript {members} runs into {run}: {out!r} from {latex!r}"
            continue
        # written with parentheses: only letters of a superscript nested inside may be raised (never mixed)
        assert all(any(sup > gid for sup in groups.sups[m]) for m in raised), \
            f"group {members} mixes ^ and superscripts: {out!r} from {latex!r}"
        candidates = [(p, q) for p, q in pairs.items() if p < first and q > last
                      and {_letter_at(ch) for ch in out[p + 1:q]} - {""} == set(members)]
        bare = re.match(r"[A-Za-z0-9.]*", out[first:]).group(0)  # type: ignore[union-attr]
        if kind in ("sup", "sub") and out[first - 1] == "^_"[kind == "sub"] and (kind == "sub" or len(bare) == 1) \
                and {_letter_at(ch) for ch in bare} - {""} == set(members):
            continue  # written bare (d_model, x^n): one word, and the next symbol does not run into it
        assert candidates, f"group {members} ({kind}) not in parentheses of its own: {out!r} from {latex!r}"
        marks = {(out[p - 1] if p else "", out[q + 1] if q + 1 < len(out) else "") for p, q in candidates}
        expected = {"sup": ("^", None), "sub": ("_", None), "sqrt": ("√", None), "num": (None, "/"),
                    "den": ("/", None), "base": (None, None)}[kind]
        assert any(expected[0] in (None, b) and expected[1] in (None, a) for b, a in marks), (kind, latex, out)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(list("ab12^_{}()[]+-=<>!|/ \\\n%$&") + [
    r"\frac", r"\sqrt", r"\bar", r"\left", r"\right", r"\sum", r"\Phi", r"\text", r"\\", r"\big", r"\hat", r"\mathbb",
    r"\operatorname", r"\begin{pmatrix}", r"\end{pmatrix}"]), max_size=30).map("".join))
def test_any_formula_renders_or_falls_back(latex: str) -> None:
    for display in (False, True):
        out = latex_to_unicode(latex, display=display)
        braces = "\\{" in latex or "\\}" in latex
        assert out == latex or braces or not ({"{", "}"} & set(out)), (latex, out)
    assert isinstance(markdown_source(f"${latex}$ and $${latex}$$"), str)
