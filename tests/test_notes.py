"""Markdown notes as cards (llmcards.notes): the parser on the real seed notes and on each structure,
bad input, ids, and the re-import planner."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from llmcards.bank import ID_RE, load_bank
from llmcards.errors import UserError
from llmcards.models import Question
from llmcards.notes import (
    MAX_NOTE_BYTES,
    ExistingNoteCard,
    ImportPlan,
    NoteQuestion,
    PlannedCard,
    assign_ids,
    find_note_files,
    note_hash,
    note_id,
    parse_notes,
    plan_import,
    read_notes,
)
from tests.helpers import SEED_NOTES, copy_seed_notes

REPO_ROOT = Path(__file__).resolve().parents[1]
BANK = REPO_ROOT / "data" / "questions.yaml"
COVERAGE = 0.95


def write(tmp_path: Path, text: str, name: str = "notes.md") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def notes(tmp_path: Path, text: str) -> list[NoteQuestion]:
    """Write ``text`` to a real file and import it."""
    return read_notes(write(tmp_path, text))


def qa(questions: list[NoteQuestion]) -> list[tuple[str, str | None]]:
    return [(q.question, q.answer) for q in questions]


# --------------------------------------------------------------------------- the seed notes vs the bank


def _norm(text: str) -> str:
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def _answer_norm(text: str) -> str:
    """Whitespace removed, and heading markers: the bank nests an answer one level deeper under
    ``#### <source>`` when a card has answers from several places."""
    return "".join(re.sub(r"^\s*#{1,6}(?=\s)", "", line) for line in text.split("\n")).translate(
        {ord(c): None for c in " \t\r\n\u3000"}
    )


_PART = re.compile(r"^#### (\S+\.txt#.*)$", re.M)


def _answer_parts(card: Question) -> dict[str, str]:
    """A merged card's answer, split by its ``#### <note>#<key>`` headings (empty: not merged)."""
    if not card.answer or not _PART.search(card.answer):
        return {}
    pieces = _PART.split(card.answer)
    return {pieces[i].strip(): pieces[i + 1].strip("\n") for i in range(1, len(pieces), 2)}


def _find(found: list[NoteQuestion], key: str, card: Question) -> NoteQuestion | None:
    """The parsed question a bank source key names: its number, its text, or ``<section>/<key>``."""
    nkey = _norm(key)
    hits = [q for q in found if q.number is not None and _norm(q.number) == nkey]
    hits = hits or [q for q in found if _norm(q.question) == nkey or _norm(q.path[-1]) == nkey]
    if not hits and "/" in key:
        section, _, rest = key.rpartition("/")
        hits = [
            q for q in found
            if _norm(rest) in (_norm(q.question), _norm(q.number or ""))
            and any(_norm(p).endswith(_norm(section)) for p in q.path[:-1])
        ]
    if len(hits) > 1:  # 003 has two "# 09.": the card's own text decides
        nq = _norm(card.question)
        hits = [q for q in hits if nq in _norm(q.question) or _norm(q.question) in nq] or hits
    return hits[0] if hits else None


@pytest.fixture(scope="module")
def seed_import(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[NoteQuestion]]:
    """The five seed notes copied as ``.md`` files into a folder and imported with read_notes."""
    folder = copy_seed_notes(tmp_path_factory.mktemp("seeds"))
    by_note: dict[str, list[NoteQuestion]] = {name: [] for name in SEED_NOTES}
    for q in read_notes(folder):
        by_note[q.note.replace(".md", ".txt")].append(q)
    return by_note


def _coverage(note: str, found: list[NoteQuestion]) -> tuple[int, list[str]]:
    """How many of the bank's questions from ``note`` the parser finds with the bank's answer, and the misses."""
    total, misses = 0, []
    cards = load_bank(BANK)
    for card in cards:
        parts = _answer_parts(card)
        for source in card.sources:
            name, _, key = source.partition("#")
            if name != note:
                continue
            total += 1
            q = _find(found, key, card)
            if q is None:
                misses.append(f"not found: {source}")
                continue
            expected = parts.get(source) if parts else card.answer
            if expected is None:
                if not parts and len(card.sources) == 1 and q.answer is not None:
                    misses.append(f"the bank has no answer, the note has one: {source}")
                continue
            if q.answer is None:
                if not parts and len(card.sources) > 1:
                    continue  # the answer comes from another place the card names (checked there)
                misses.append(f"no answer found: {source}")
            elif _answer_norm(expected) not in _answer_norm(q.answer):
                misses.append(f"answer differs: {source}")
    return total - len(misses), misses + [f"of {total}"]


@pytest.mark.parametrize("note", SEED_NOTES)
def test_seed_note_questions_match_the_bank(note: str, seed_import: dict[str, list[NoteQuestion]]) -> None:
    """At least 95% of the bank's questions from each note are found, each with the bank's answer."""
    found = seed_import[note]
    good, report = _coverage(note, found)
    total = int(report[-1].split()[-1])
    print(f"{note}: {good}/{total} = {good / total:.1%} of the bank's questions found with their answer")
    assert total > 0
    assert good / total >= COVERAGE, "\n".join(report)


def test_every_parsed_seed_question_is_in_the_bank(seed_import: dict[str, list[NoteQuestion]]) -> None:
    """The other way round: the importer finds no question the bank lacks."""
    cards = load_bank(BANK)
    extra = []
    for note, found in seed_import.items():
        keys = {_norm(s.partition("#")[2]) for c in cards for s in c.sources if s.startswith(note + "#")}
        texts = {_norm(c.question) for c in cards}
        for q in found:
            names = {_norm(q.question), _norm(q.path[-1]), _norm(q.number or "-")}
            names |= {_norm(f"{p}/{q.question}") for p in q.path[:-1]}
            if not (names & keys or _norm(q.question) in texts):
                extra.append(f"{q.locator} (line {q.line})")
    assert extra == []


def test_seed_import_details(seed_import: dict[str, list[NoteQuestion]]) -> None:
    split = next(q for q in seed_import[SEED_NOTES[1]] if q.line == 368)  # "## …最佳组合有哪" + "## 些?"
    assert split.question == "数据并行、张量并行和流水线并行的工作原理分别是什么?它们的最佳组合有哪些?"
    assert split.answer is None
    assert split.locator == f"001_75da3e7c8895a41c.md#12 大模型的训练与推理/{split.question}"
    glm = next(q for q in seed_import[SEED_NOTES[0]] if q.number == "11")
    assert "[figure: 1710748836288.png][figure: 1710748940255.png]" in (glm.answer or "")
    repeat = next(q for q in seed_import[SEED_NOTES[3]] if q.number == "04")
    assert (repeat.answer or "").startswith("####  复读机出现的原因：")
    ids = [q.id for found in seed_import.values() for q in found]
    assert len(ids) == len(set(ids)) and all(ID_RE.match(i) for i in ids)


# --------------------------------------------------------------------------- structures


def test_heading_questions_and_verbatim_answers(tmp_path: Path) -> None:
    text = """# Attention

## What is attention?
It weighs values by $\\mathrm{softmax}(QK^T/\\sqrt{d_k})$.

```python
# not a heading
def f(): return 1
```

| a | b |
|---|---|
| 1 | 2 |

### Details
More.

## 为什么要除以 √d？
防止 softmax 饱和。
"""
    found = notes(tmp_path, text)
    assert [q.question for q in found] == ["What is attention?", "为什么要除以 √d？"]
    first = found[0]
    assert first.answer == (
        "It weighs values by $\\mathrm{softmax}(QK^T/\\sqrt{d_k})$.\n\n```python\n# not a heading\n"
        "def f(): return 1\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n#### Details\nMore."
    )
    assert first.path == ("Attention", "What is attention?")
    assert first.locator == "notes.md#Attention/What is attention?"
    assert first.line == 3 and first.kind == "heading"
    assert found[1].answer == "防止 softmax 饱和。"


def test_numbered_headings(tmp_path: Path) -> None:
    text = """# 01. 大模型常用微调方法LORA和Ptuning的原理
LoRA 加一个旁路。

# 02. 如何缓解 LLMs 复读机问题
## 复读机出现的原因：
- 数据
## 缓解方法
- 温度

# 03. MHA和GQA的区别
### 1.MHA
- 最初的做法
### 2.GQA
- 分组

### 4.
怎么预估LLM训练的batch-size
显存 / 每条样本
"""
    found = notes(tmp_path, text)
    assert [(q.number, q.question) for q in found] == [
        ("01", "大模型常用微调方法LORA和Ptuning的原理"),
        ("02", "如何缓解 LLMs 复读机问题"),
        ("03", "MHA和GQA的区别"),
    ]
    assert found[1].answer == "#### 复读机出现的原因：\n- 数据\n#### 缓解方法\n- 温度"
    assert found[2].answer is not None and found[2].answer.startswith("#### 1.MHA")
    assert "\n#### 4.\n怎么预估" in found[2].answer  # a numbered heading inside the answer of 03


def test_a_number_only_heading_takes_the_next_line(tmp_path: Path) -> None:
    found = notes(tmp_path, "# Interview\n### 3.\n怎么预估 batch size\n看显存。\n\n### 4. 学习率怎么设\n1e-5\n")
    assert qa(found) == [("怎么预估 batch size", "看显存。"), ("学习率怎么设", "1e-5")]
    assert found[0].number == "3" and found[0].path[-1] == "3. 怎么预估 batch size"


def test_numbered_sections_are_not_questions(tmp_path: Path) -> None:
    text = (
        "# 1. 语义表达\n## 词向量如何建模语义信息?\n映射到向量空间\n"
        "# 2. 大模型的数据\n## 开源数据集有哪些?\n维基百科\n"
    )
    found = notes(tmp_path, text)
    assert qa(found) == [("词向量如何建模语义信息?", "映射到向量空间"), ("开源数据集有哪些?", "维基百科")]
    assert found[1].path == ("2. 大模型的数据", "开源数据集有哪些?")


def test_headings_under_a_section_that_lists_questions(tmp_path: Path) -> None:
    text = """# 04. 如何缓解复读机问题
调温度。
# 06. Transformer为何使用多头注意力机制
子空间。
# 05. 为什么transformer块使用LayerNorm
LN 不依赖 batch。
## RMSNorm和普通的LayerNorm有什么区别？
- 去掉了均值
## RMSNorm的好处
- 计算量小
"""
    found = notes(tmp_path, text)
    assert qa(found)[2:] == [
        ("为什么transformer块使用LayerNorm", "LN 不依赖 batch。"),
        ("RMSNorm和普通的LayerNorm有什么区别？", "- 去掉了均值"),
        ("RMSNorm的好处", "- 计算量小"),
    ]


def test_bold_numbered_items(tmp_path: Path) -> None:
    text = """**1、大模型微调如何选择基座？**

* 语言的支持性
* **计算资源**

**2. llm训练细节**
* PT：自监督训练

## LoRA
1. **What is LoRA?**
   Two low-rank matrices.

   ```
   W + BA
   ```
2. **Why zero-init B?**
3. **QLoRA** adds 4-bit quantisation.
"""
    found = notes(tmp_path, text)
    assert [(q.kind, q.number, q.question) for q in found] == [
        ("bold", "1", "大模型微调如何选择基座？"),
        ("bold", "2", "llm训练细节"),
        ("bold-item", "1", "What is LoRA?"),
        ("bold-item", "2", "Why zero-init B?"),
    ]
    assert found[0].answer == "* 语言的支持性\n* **计算资源**"
    assert found[1].answer == "* PT：自监督训练"
    assert found[2].answer == "Two low-rank matrices.\n\n```\nW + BA\n```"
    assert found[3].answer == "3. **QLoRA** adds 4-bit quantisation."
    assert found[2].path == ("LoRA", "1. What is LoRA?")


def test_bold_items_inside_a_heading_answer_belong_to_it(tmp_path: Path) -> None:
    found = notes(tmp_path, "## 数据不均衡怎么处理？\n**1. 数据层面**\n过采样\n\n> 引用\n\nQ: not here\n")
    assert len(found) == 1
    assert found[0].answer == "**1. 数据层面**\n过采样\n\n> 引用\n\nQ: not here"


def test_question_answer_pairs(tmp_path: Path) -> None:
    text = """Q: What is top-p sampling?
A: Sample from the smallest set whose probability reaches p.
It adapts to the distribution.

Q: And top-k?

A: The k most likely tokens.

问：什么是 KV cache？
答：缓存已算过的 K 和 V。

**Q:** Is it bold?
**A:** Yes.
"""
    found = notes(tmp_path, text)
    top_p = "Sample from the smallest set whose probability reaches p.\nIt adapts to the distribution."
    assert qa(found) == [
        ("What is top-p sampling?", top_p),
        ("And top-k?", "The k most likely tokens."),
        ("什么是 KV cache？", "缓存已算过的 K 和 V。"),
        ("Is it bold?", "Yes."),
    ]
    assert all(q.kind == "qa" for q in found)


def test_blockquoted_questions(tmp_path: Path) -> None:
    text = """## 面试题
> RAG技术体系的总体思路

数据预处理->分块->向量化

> 如何评价RAG项目效果的好坏

> 什么是LangChain
一个框架，

> 介绍下ChatGLM

GLM 基座。
"""
    found = notes(tmp_path, text)
    assert qa(found) == [
        ("RAG技术体系的总体思路", "数据预处理->分块->向量化"),
        ("如何评价RAG项目效果的好坏", None),
        ("什么是LangChain", "一个框架，"),
        ("介绍下ChatGLM", "GLM 基座。"),
    ]
    assert found[0].path == ("面试题", "RAG技术体系的总体思路") and found[0].kind == "quote"


def test_long_quotes_and_callouts_are_not_questions(tmp_path: Path) -> None:
    text = "## Notes\n> [!NOTE]\n> read this\n\n> one\n> two\n> three\n> four\n\nWhat is this?\nA test.\n"
    assert qa(notes(tmp_path, text)) == [("What is this?", "A test.")]


def test_unanswered_questions(tmp_path: Path) -> None:
    text = "# 7. 大模型的评估\n## 大模型评测要关注哪些原则?\n## 大模型如何修复 badcase?\n\n# 8. 其它\n"
    found = notes(tmp_path, text)
    assert qa(found) == [("大模型评测要关注哪些原则?", None), ("大模型如何修复 badcase?", None)]


def test_question_lists(tmp_path: Path) -> None:
    text = """## 面试题
1. 请具体介绍一下L1、L2正则化。
2. 过拟合怎么解决

## 精选面试50题

简述GPT和BERT的区别
讲一下GPT系列模型是如何演进的？

## Other notes
lora微调

Why does warmup help?
It keeps early updates small.
- Is Adam always better?
"""
    found = notes(tmp_path, text)
    assert [(q.kind, q.number, q.question, q.answer) for q in found] == [
        ("list", "1", "请具体介绍一下L1、L2正则化。", None),
        ("list", "2", "过拟合怎么解决", None),
        ("line", None, "简述GPT和BERT的区别", None),
        ("line", None, "讲一下GPT系列模型是如何演进的？", None),
        ("line", None, "Why does warmup help?", "It keeps early updates small."),
        ("list", None, "Is Adam always better?", None),
    ]
    assert found[0].path == ("面试题", "1. 请具体介绍一下L1、L2正则化。")


def test_split_heading_is_joined(tmp_path: Path) -> None:
    text = "# 12 训练与推理\n## 它们的最佳组合有哪\n## 些?\n# 13 DeepSeek\n## R1 的训练流程是怎样的?\n"
    found = notes(tmp_path, text)
    assert [q.question for q in found] == ["它们的最佳组合有哪些?", "R1 的训练流程是怎样的?"]
    assert found[0].line == 2 and found[0].answer is None
    english = notes(tmp_path, "## What does the scheduler\n## do?\nIt orders cards.\n")
    assert qa(english) == [("What does the scheduler do?", "It orders cards.")]


def test_images_become_placeholders(tmp_path: Path) -> None:
    text = """## 什么是 RAG？
* 标准方法\x20\x20
![naive RAG](./image/LLM面经/naive-RAG.png)
  ![1710748836288](image/a/1710748836288.png)![x](image/a/2.png)
![Alt](assert/attention.png#pic_center=600x400) and ![](https://x.org/a%20b.jpg?raw=1)
<img width="406" alt="截屏" src="https://github.com/o/r/assets/1/6347750b-6304">

```
![kept](in/code.png)
```
"""
    answer = notes(tmp_path, text)[0].answer
    assert answer == (
        "* 标准方法  \n[figure: naive-RAG.png]\n  [figure: 1710748836288.png][figure: 2.png]\n"
        "[figure: attention.png] and [figure: a b.jpg]\n[figure: 6347750b-6304]\n\n```\n![kept](in/code.png)\n```"
    )


def test_setext_headings_front_matter_and_crlf(tmp_path: Path) -> None:
    text = "---\ntitle: What is this?\n---\nWhat is a setext heading?\n-----\nAn underlined one.\n\nNotes\n=====\n"
    path = tmp_path / "n.md"
    path.write_bytes(text.replace("\n", "\r\n").encode("utf-8"))
    found = read_notes(path)
    assert qa(found) == [("What is a setext heading?", "An underlined one.")]
    assert found[0].line == 4
    sub = notes(tmp_path, "# Why?\nBecause.\n\nPart two\n--------\nmore\n")
    assert sub[0].answer == "Because.\n\n#### Part two\nmore"


def test_answer_stops_at_a_higher_heading(tmp_path: Path) -> None:
    found = notes(tmp_path, "### Q1?\nA1\n## Section\ntext\n### Q2?\nA2\n# Top\n")
    assert qa(found) == [("Q1?", "A1"), ("Q2?", "A2")]
    assert found[1].path == ("Section", "Q2?")


def test_parse_notes_is_pure_and_keeps_note_order(tmp_path: Path) -> None:
    text = "# a?\n1\n# b?\n2\n"
    assert parse_notes(text, "x.md") == parse_notes(text, "x.md")
    assert [q.line for q in parse_notes(text, "x.md")] == [1, 3]
    assert parse_notes("just prose\n", "x.md") == []
    q = parse_notes(text, "x.md")[0]
    assert q.to_question(tags=["mine"]) == Question(q.id, "a?", "1", ("mine",), ("x.md#a?",), 1)


def test_markdown_it_is_imported_lazily() -> None:
    code = (
        "import sys\nfrom llmcards.cli import main\nsys.argv = ['llmcards', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "import llmcards.notes\nassert 'markdown_it' not in sys.modules, 'imported'\n"
        "llmcards.notes.parse_notes('# a?\\n', 'x')\nassert 'markdown_it' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --------------------------------------------------------------------------- files, folders and bad input


def test_folder_recursion_sorted_and_symlinks(tmp_path: Path) -> None:
    root = tmp_path / "notes"
    write(root, "# b?\nB\n", "b.md")
    write(root, "# a?\nA\n", "sub/a.md")
    write(root, "# z?\nZ\n", "A.MD")
    write(root, "# c?\nC\n", "c.markdown")
    write(root, "# hidden?\n", ".obsidian/h.md")
    write(root, "not notes", "readme.txt")
    (root / "link.md").symlink_to(root / "b.md")  # the same file twice: read once
    (root / "again").symlink_to(root / "sub")  # the same folder twice: read once
    assert [name for _, name in find_note_files(root)] == ["A.MD", "b.md", "c.markdown", "sub/a.md"]
    found = read_notes(root)
    assert [q.locator for q in found] == ["A.MD#z?", "b.md#b?", "c.markdown#c?", "sub/a.md#a?"]


def test_symlink_loops(tmp_path: Path) -> None:
    (tmp_path / "a.md").symlink_to(tmp_path / "b.md")
    (tmp_path / "b.md").symlink_to(tmp_path / "a.md")
    with pytest.raises(UserError, match=r"a\.md: symlink loop"):
        read_notes(tmp_path / "a.md")
    root = tmp_path / "notes"
    write(root, "# q?\n", "sub/q.md")
    (root / "sub" / "up").symlink_to(root)
    with pytest.raises(UserError, match=r"up: symlink loop \(it points back to a folder above it\)"):
        read_notes(root)
    self_loop = tmp_path / "self"
    write(self_loop, "# q?\n", "q.md")
    (self_loop / "me.md").symlink_to(self_loop / "me.md")
    with pytest.raises(UserError, match="symlink loop"):
        read_notes(self_loop)


def test_folder_without_md_files(tmp_path: Path) -> None:
    write(tmp_path / "empty", "# q?\n", "notes.txt")
    with pytest.raises(UserError, match=r"empty: no \.md or \.markdown files in this folder or below it"):
        read_notes(tmp_path / "empty")


def test_missing_path_and_broken_link(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="nope.md: no such file or folder"):
        read_notes(tmp_path / "nope.md")
    (tmp_path / "dangling.md").symlink_to(tmp_path / "gone.md")
    with pytest.raises(UserError, match="broken symlink"):
        read_notes(tmp_path / "dangling.md")


def test_huge_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    with open(path, "wb") as handle:
        handle.truncate(50 * 1024 * 1024)  # a real 50 MB file (sparse: quick to make)
    started = time.perf_counter()
    with pytest.raises(UserError) as info:
        read_notes(path)
    assert time.perf_counter() - started < 1.0
    assert str(info.value) == f"{path}: 50 MB is over the 20 MB limit for a notes file; split it"
    assert MAX_NOTE_BYTES == 20 * 1024 * 1024


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "a binary file (a PNG image), not Markdown notes"),
        (b"%PDF-1.7\n...", "a binary file (a PDF document)"),
        (b"# q?\n\x00\x01\x02\x03 data", "a binary file (it contains NUL bytes)"),
        (bytes([1, 2, 3, 4, 5, 6, 7, 8]) * 100, "a binary file (it contains control bytes)"),
    ],
)
def test_binary_files(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "notes.md"
    path.write_bytes(data)
    with pytest.raises(UserError, match=re.escape(message)):
        read_notes(path)


@pytest.mark.parametrize(
    ("encoding", "looks_like"),
    [
        ("gb18030", "GB18030/GBK (Simplified Chinese)"),
        ("gbk", "GB18030/GBK (Simplified Chinese)"),
        ("utf-16", "UTF-16 (little-endian, with BOM)"),
        ("utf-16-le", "UTF-16 (little-endian, no BOM)"),
        ("utf-16-be", "UTF-16 (big-endian, no BOM)"),
        ("cp1252", "Windows-1252/Latin-1 (Western European)"),
    ],
)
def test_not_utf8(tmp_path: Path, encoding: str, looks_like: str) -> None:
    text = (
        "# Café crème?\nUne réponse très détaillée.\n" if encoding == "cp1252"
        else "# 如何缓解大模型的复读机问题？\n提高数据的多样性，调整温度参数，后处理过滤重复的句子。\n" * 3
    )
    path = tmp_path / "notes.md"
    path.write_bytes(text.encode(encoding))
    with pytest.raises(UserError) as info:
        read_notes(path)
    message = str(info.value)
    assert message.startswith(f"{path}:") and "not UTF-8 text" in message
    assert f"it looks like {looks_like}" in message, message
    assert "\n" not in message


def test_utf8_bom_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_bytes("\ufeff# 什么是 BOM？\n字节顺序标记\n".encode("utf-8"))
    assert qa(read_notes(path)) == [("什么是 BOM？", "字节顺序标记")]


def test_no_questions_found(tmp_path: Path) -> None:
    path = write(tmp_path, "# Shopping\n- milk\n- eggs\n")
    with pytest.raises(UserError) as info:
        read_notes(path)
    message = str(info.value)
    assert message.startswith(f"{path}: no questions found; looked for headings ending in ? or ？")
    for structure in ("numbered headings", "bold numbered items", "Q:/A:", "问：/答：", "blockquoted questions"):
        assert structure in message
    folder = tmp_path / "folder"
    write(folder, "plain\n", "a.md")
    write(folder, "prose\n", "b.md")
    with pytest.raises(UserError, match=r"folder: none of its 2 notes files: no questions found"):
        read_notes(folder)


def test_a_file_without_questions_in_a_folder_is_skipped(tmp_path: Path) -> None:
    write(tmp_path, "# Index\nsee the other notes\n", "README.md")
    write(tmp_path, "# q?\nA\n", "q.md")
    assert [q.locator for q in read_notes(tmp_path)] == ["q.md#q?"]


# --------------------------------------------------------------------------- ids


def test_ids_are_stable_and_readable() -> None:
    assert note_id("What is LoRA?") == "what-is-lora-c6a141dc"  # pinned: ids must never change
    assert note_id("如何缓解 LLMs 复读机问题") == "llms-27a05df1"
    assert note_id("大模型微调如何选择基座？") == "note-70b924b4"
    assert note_id("What is LoRA?") == note_id("  what is  LoRA ？") == note_id("What is ＬｏＲＡ")
    assert note_id("What is LoRA?") != note_id("What is QLoRA?")
    for text in ("What is LoRA?", "大模型微调如何选择基座？", "x" * 500, "!!!", "Ünïcödé façade?"):
        assert ID_RE.match(note_id(text)), note_id(text)


def test_repeated_questions_get_distinct_ids(tmp_path: Path) -> None:
    text = "# 7. 评估\n## 原则有哪些?\n## 怎么修复 badcase?\n# 8. 架构\n## 原则有哪些?\n"
    found = notes(tmp_path, text)
    assert found[0].id == note_id("原则有哪些?")  # the first keeps the plain id
    assert found[2].id != found[0].id and ID_RE.match(found[2].id)
    assert [q.id for q in notes(tmp_path, text)] == [q.id for q in found]
    taken = assign_ids(found[:1], taken=lambda i: i == found[0].id)
    assert taken[0].id != found[0].id


# --------------------------------------------------------------------------- the re-import planner


def existing_from(found: list[NoteQuestion], **edits: ExistingNoteCard) -> dict[str, ExistingNoteCard]:
    """The cards an import of ``found`` made, as the store would describe them."""
    cards = {q.id: ExistingNoteCard(q.question, q.answer, q.source_hash, sources=(q.locator,)) for q in found}
    cards.update(edits)
    return cards


def ids(cards: Sequence[PlannedCard] | Sequence[NoteQuestion]) -> list[str]:
    return [c.id for c in cards]


NOTE = """# Attention
## What is attention?
Attention weighs the values by how well their keys match the query.
## Why scale by sqrt(d_k)?
Dot products grow with the dimension and saturate the softmax.
## What is MQA?
"""


def test_reimport_unchanged(tmp_path: Path) -> None:
    found = notes(tmp_path, NOTE)
    plan = plan_import(existing_from(found), found)
    assert ids(plan.unchanged) == ids(found) and not plan.changed
    assert plan.summary() == "0 added, 0 updated, 3 unchanged, 0 retired"


def test_first_import_adds_everything(tmp_path: Path) -> None:
    found = notes(tmp_path, NOTE)
    plan = plan_import({}, found)
    assert ids(plan.added) == ids(found) and plan.changed


def test_changed_answer_updates_and_keeps_the_id(tmp_path: Path) -> None:
    before = notes(tmp_path, NOTE)
    after = notes(tmp_path, NOTE.replace("saturate the softmax.", "push the softmax into saturation."))
    plan = plan_import(existing_from(before), after)
    assert ids(plan.updated) == [before[1].id]
    assert plan.updated[0].note.answer == "Dot products grow with the dimension and push the softmax into saturation."
    assert ids(plan.unchanged) == [before[0].id, before[2].id]
    assert not plan.added and not plan.retired and not plan.renamed


def test_an_edit_in_the_store_survives_until_the_file_changes_that_card(tmp_path: Path) -> None:
    before = notes(tmp_path, NOTE)
    q = before[0]
    edited = ExistingNoteCard("What is attention (my words)?", "My own answer.", q.source_hash)
    plan = plan_import(existing_from(before, **{q.id: edited}), notes(tmp_path, NOTE + "\nmore prose\n"))
    assert q.id in ids(plan.unchanged)  # the file did not change this card: the edit stays
    changed = notes(tmp_path, NOTE.replace("how well their keys match", "how their keys match"))
    plan = plan_import(existing_from(before, **{q.id: edited}), changed)
    assert ids(plan.updated) == [q.id]  # the file changed it: the file wins


def test_a_card_without_a_source_hash_compares_its_store_text(tmp_path: Path) -> None:
    found = notes(tmp_path, NOTE)
    q = found[0]
    plan = plan_import(existing_from(found, **{q.id: ExistingNoteCard(q.question, q.answer)}), found)
    assert q.id in ids(plan.unchanged)
    plan = plan_import(existing_from(found, **{q.id: ExistingNoteCard(q.question, "old")}), found)
    assert ids(plan.updated) == [q.id]


def test_removed_question_is_retired_and_comes_back(tmp_path: Path) -> None:
    before = notes(tmp_path, NOTE)
    after = notes(tmp_path, NOTE.replace("## What is MQA?\n", ""))
    plan = plan_import(existing_from(before), after)
    assert plan.retired == [before[2].id] and len(plan.unchanged) == 2
    retired = existing_from(before)
    retired[before[2].id] = replace_retired(retired[before[2].id])
    plan = plan_import(retired, after)
    assert plan.retired == [] and not plan.changed  # already retired: nothing to do
    plan = plan_import(retired, before)
    assert ids(plan.updated) == [before[2].id]  # back in the notes: restored, with its progress


def replace_retired(card: ExistingNoteCard) -> ExistingNoteCard:
    return ExistingNoteCard(card.question, card.answer, card.source_hash, True, card.sources)


def test_reworded_question_keeps_its_card_by_answer(tmp_path: Path) -> None:
    before = notes(tmp_path, NOTE)
    after = notes(tmp_path, NOTE.replace("## What is attention?", "## How does attention work?"))
    plan = plan_import(existing_from(before), after)
    assert ids(plan.updated) == [before[0].id] and not plan.added and not plan.retired
    assert plan.updated[0].note.question == "How does attention work?"
    assert plan.renamed[0].id == before[0].id and plan.renamed[0].similarity == 1.0
    assert plan.renamed[0].old_question == "What is attention?"
    # the next import finds the renamed card by the text it last read: no rename again, no change
    stored = {**existing_from(before), before[0].id: ExistingNoteCard(
        "How does attention work?", after[0].answer, after[0].source_hash)}
    again = plan_import(stored, after)
    assert not again.changed and not again.renamed and before[0].id in ids(again.unchanged)


def test_reworded_question_with_a_lightly_edited_answer(tmp_path: Path) -> None:
    before = notes(tmp_path, NOTE)
    after = notes(tmp_path, NOTE.replace("## Why scale by sqrt(d_k)?", "## Why divide by √d_k?").replace(
        "saturate the softmax.", "saturate the softmax!"))
    plan = plan_import(existing_from(before), after)
    assert [r.id for r in plan.renamed] == [before[1].id]
    assert 0.8 <= plan.renamed[0].similarity < 1.0


def test_a_new_answer_under_a_new_question_is_not_a_rename(tmp_path: Path) -> None:
    before = notes(tmp_path, NOTE)
    after = notes(tmp_path, NOTE.replace(
        "## What is attention?\nAttention weighs the values by how well their keys match the query.",
        "## What is a transformer?\nA stack of attention and feed-forward layers with residuals."))
    plan = plan_import(existing_from(before), after)
    assert plan.retired == [before[0].id] and len(plan.added) == 1 and not plan.renamed


def test_unanswered_questions_are_never_matched_by_answer(tmp_path: Path) -> None:
    before = notes(tmp_path, NOTE)
    after = notes(tmp_path, NOTE.replace("## What is MQA?", "## What is multi-query attention?"))
    plan = plan_import(existing_from(before), after)
    assert plan.retired == [before[2].id] and ids(plan.added) == [after[2].id] and not plan.renamed


def test_renames_are_one_to_one(tmp_path: Path) -> None:
    fox = "The quick brown fox jumps over the lazy dog near the river bank"
    before = notes(tmp_path, f"## A?\n{fox}.\n")
    after = notes(tmp_path, f"## A1?\n{fox}!\n## A2?\n{fox[:-5]}.\n")
    plan = plan_import(existing_from(before), after)
    assert [(r.id, r.new_question) for r in plan.renamed] == [(before[0].id, "A1?")]  # the closer answer
    assert ids(plan.added) == [after[1].id] and not plan.retired


def test_an_answer_shared_by_two_questions_is_not_matched(tmp_path: Path) -> None:
    before = notes(tmp_path, "## A?\nsame answer text here\n## B?\nsame answer text here\n")
    after = notes(tmp_path, "## A2?\nsame answer text here\n## B2?\nsame answer text here\n")
    plan = plan_import(existing_from(before), after)
    assert not plan.renamed and len(plan.added) == 2 and plan.retired == ids(before)


def test_question_edited_in_the_store_is_still_found(tmp_path: Path) -> None:
    before = notes(tmp_path, NOTE)
    q = before[0]
    stored = existing_from(before, **{q.id: ExistingNoteCard("My wording?", q.answer, q.source_hash)})
    changed = notes(tmp_path, NOTE.replace("how well their keys match", "how their keys match"))
    plan = plan_import(stored, changed)
    assert ids(plan.updated) == [q.id] and not plan.renamed


def test_new_ids_avoid_ids_in_use(tmp_path: Path) -> None:
    # "What is attention?" was renamed earlier, so its old id now belongs to the renamed card;
    # a new question with the old text must get another id.
    before = notes(tmp_path, NOTE)
    old = before[0]
    stored = existing_from(before, **{old.id: ExistingNoteCard("How does attention work?", old.answer,
                                                               note_hash("How does attention work?", old.answer))})
    after = notes(tmp_path, NOTE.replace("## What is attention?", "## How does attention work?")
                  + "## What is attention?\nA new answer.\n")
    plan = plan_import(stored, after)
    assert old.id in ids(plan.unchanged)
    assert len(plan.added) == 1 and plan.added[0].id != old.id and ID_RE.match(plan.added[0].id)
    other = plan_import({}, after, taken=lambda i: i == after[0].id)
    assert after[0].id not in ids(other.added)


def test_plan_is_an_import_plan(tmp_path: Path) -> None:
    found = notes(tmp_path, NOTE)
    plan = plan_import({}, found)
    assert isinstance(plan, ImportPlan)
    assert plan.added[0].source_hash == note_hash(found[0].question, found[0].answer)


# --------------------------------------------------------------------------- any note


FRAGMENTS = [
    "# 01. 如何缓解复读机问题", "## What is attention?", "### 3.", "## 些?", "# 1. 语义表达", "## 面试题", "#",
    "**1、大模型微调如何选择基座？**", "1. **What is LoRA?**", "2. 过拟合怎么解决", "- Is Adam better?", "* item",
    "Q: why?", "A: because", "问：什么？", "答：这个", "> RAG技术体系的总体思路", "> [!NOTE]", ">", "```", "~~~",
    "    indented code", "\tTabbed?", "---", "===", "| a | b |", "|---|---|", "$$", "x^2", "<img src='a/b.png'>",
    "![x](y/z.png)", "<!--", "-->", "text", "more text?", "", "", "", "\u00a0", "混合 English 和中文？", "\\*", "[^1]",
]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=12), max_size=40), st.sampled_from(["\n", "\r\n"]))
def test_any_note_parses_into_sane_questions(parts: list[str], newline: str) -> None:
    text = newline.join(parts)
    found = parse_notes(text, "any.md")
    assert found == parse_notes(text, "any.md")
    line_count = len(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    assert [q.line for q in found] == sorted(q.line for q in found)
    for q in found:
        assert q.question.strip() == q.question and q.question
        assert q.answer is None or q.answer.strip()
        assert 1 <= q.line <= line_count
        assert q.locator.startswith("any.md#") and q.path and q.path[-1]
        assert ID_RE.match(q.id)
    assert len({q.id for q in found}) == len(found)
    assert all(c.id == q.id for c, q in zip(plan_import(existing_from(found), found).unchanged, found, strict=True))
    added = plan_import({}, found).added
    assert len({c.id for c in added}) == len(found)


BLOCK_FRAGMENTS = [
    *FRAGMENTS, "   - nested item", "  lazy line", "      deep line", "1) item", "+ plus", "10. ten", "   ```",
    "> > nested quote", "> - quoted item", ">     quoted code", "  # indented heading", "Setext", "----", "   ===",
    "<div>", "</div>", "<script>", "</script>", "***", "_ _ _", "- - -", "    ", "\t- tab item", "  2. **bold?**",
    "汉字开头的一行", "= not underline", "#hashtag", "-not a list", "1.not a list", "~not fence",
]


def _blocks(tokens: Sequence[Token]) -> list[tuple[object, ...]]:
    return [(t.type, t.tag, t.map, t.level, t.nesting, t.markup, t.info, t.content) for t in tokens]


def _stock_markdown() -> MarkdownIt:
    """markdown-it's own CommonMark block rules (references aside: the notes parser reads them as text)."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": True}).disable(["inline", "reference"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(BLOCK_FRAGMENTS) | st.text(max_size=8), max_size=40))
def test_the_tuned_block_parser_gives_markdown_its_own_tokens(parts: list[str]) -> None:
    """The notes parser's speed-ups (paragraphs taken at once, setext headings found in the same
    scan) give exactly the tokens of markdown-it's own rules."""
    from llmcards.notes import _markdown

    text = "\n".join(parts)
    assert _blocks(_markdown().parse(text)) == _blocks(_stock_markdown().parse(text))


def test_the_tuned_block_parser_on_the_seed_notes(tmp_path: Path) -> None:
    from llmcards.notes import _markdown

    for path in sorted(copy_seed_notes(tmp_path).iterdir()):
        text = path.read_text(encoding="utf-8")
        assert _blocks(_markdown().parse(text)) == _blocks(_stock_markdown().parse(text)), path.name


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["**", "*", "__", "_", " ", "\t", "\u00a0", "\u3000", "\x1f", "a", "1、", "？", "(",
                                 "`", "\\", "<b>", "&amp;", "[x](y)", "中文", "!"]), max_size=12))
def test_bold_lines_read_without_the_inline_parser_read_the_same(parts: list[str]) -> None:
    from llmcards.notes import _bold_line, _bold_line_parsed

    line = "".join(parts)
    line = f"**{line}**" if len(parts) % 2 else line  # half of them look bold at first sight
    assert _bold_line(line) == (_bold_line_parsed(line) if "**" in line or "__" in line else None)
