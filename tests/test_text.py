"""Card text in the terminal: formulas readable, everything else literal, controls neutralised."""

from __future__ import annotations

from rich.console import Console
from rich.markdown import Markdown

from llmcards.render import answer_renderable, literal
from llmcards.text import latex_to_unicode, markdown_source, neutralize, plain


def _render(markdown: str, width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(answer_renderable(markdown))
    return console.export_text()


def test_formulas_become_unicode() -> None:
    assert latex_to_unicode(r"\frac{1}{\sqrt{d_k}}") == "1/√(d_k)"
    assert latex_to_unicode(r"N \propto C^{0.73}") == "N ∝ C^0.73"
    assert latex_to_unicode(r"C \approx 6ND") == "C ≈ 6ND"
    assert latex_to_unicode(r"\sum_{i=1}^{n} x_i") == "∑_(i=1)^n x_i"
    assert latex_to_unicode(r"pos/10000^{2i/d_{model}}") == "pos/10000^(2i/d_model)"
    assert latex_to_unicode(r"e^{-\lambda t}") == "e^(-λt)"
    assert latex_to_unicode(r"4\Phi+ 4\Phi") == "4Φ + 4Φ"
    assert latex_to_unicode(r"n_{vocab}\times d_{hidden}") == "n_vocab × d_hidden"
    attention = r"\text{softmax}\left(\frac{QK^T}{\sqrt{d_{\text{key}}}}\right)"
    assert latex_to_unicode(attention) == "softmax(QKᵀ/√(d_key))"
    assert latex_to_unicode(r"50% \cdot x").replace(" ", "") == "50%·x"  # % is not a LaTeX comment here


def test_formula_underscores_and_stars_never_become_emphasis() -> None:
    out = _render(r"缩放 $\frac{1}{\sqrt{d_k}}$ 和 $a*b*c$ 以及 $x_1 + y_1$")
    assert "1/√(d_k)" in out and "a*b*c" in out and "x_1 + y_1" in out


def test_display_math_and_code_blocks() -> None:
    out = _render("$$C \\approx 6 N D$$\n\n```python\nx = '$a$'  # not math\n```\n")
    assert "C ≈ 6ND" in out or "C ≈ 6 N D" in out
    assert "x = '$a$'  # not math" in out


def test_brackets_percent_backslashes_and_html_stay_literal() -> None:
    out = _render(r"The [mask] token, 15% masked, path C:\temp\new, tag <br> and [/] and [bold]x[/bold]")
    for piece in ["[mask]", "15%", r"C:\temp\new", "<br>", "[/]", "[bold]x[/bold]"]:
        assert piece in out, piece


def test_control_characters_are_neutralised() -> None:
    assert neutralize("a\x1b[31mb\x07c\td\n") == "a␛[31mb␇c\td\n"
    assert "\x1b" not in plain("x\x1b]0;title\x07")
    out = _render("evil \x1b[2J text")
    assert "\x1b" not in out and "␛[2J" in out


def test_note_line_breaks_are_kept() -> None:
    out = _render("第一行\n第二行\n- 列表项\n")
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    assert lines[:2] == ["第一行", "第二行"]
    assert "列表项" in lines[2]


def test_chinese_wraps_within_width() -> None:
    from rich.cells import cell_len

    text = "大模型的训练需要大量的数据和计算资源，注意力机制的复杂度是平方级别的。" * 4
    for width in (30, 80):
        out = _render(text, width)
        assert all(cell_len(line.rstrip()) <= width for line in out.splitlines())
        assert "".join(line.strip() for line in out.splitlines()) == text


def test_literal_text_is_not_markup() -> None:
    console = Console(width=80, record=True, color_system=None)
    console.print(literal("[bold]not bold[/bold] [mask] [/]"))
    assert console.export_text().strip() == "[bold]not bold[/bold] [mask] [/]"


def test_unanswered_card_says_so() -> None:
    console = Console(width=80, record=True, color_system=None)
    console.print(answer_renderable(None))
    assert "no answer in the notes" in console.export_text()


def test_markdown_source_escapes_only_outside_code() -> None:
    src = markdown_source("`a\\b` and a\\b")
    assert src == "`a\\b` and a\\\\b"
    assert isinstance(Markdown(src), Markdown)
