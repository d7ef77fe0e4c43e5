"""Output of ``llmcards import NOTES.md``: the preview table, the closing line, and the JSON.

User text (questions, file names) goes through ``rich.text.Text``, never read as markup.
"""

from __future__ import annotations

from typing import TypedDict

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from llmcards.notes_import import NotesImport

PREVIEW_ROWS = 12
"""Rows shown per kind of change in the preview; ``--json`` lists them all."""

_STYLES = {"add": "green", "update": "yellow", "rename": "cyan", "retire": "red"}


def _one_line(text: str, width: int = 90) -> str:
    """A question on one line, as `llmcards list` shows it (formulas readable), cut at ``width``."""
    from llmcards.text import plain

    flat = " ".join(plain(text).split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _rows(result: NotesImport) -> dict[str, list[tuple[str, str]]]:
    """(id, question) rows by kind of change, in note order."""
    plan = result.plan
    renamed = {r.id: r for r in plan.renamed}
    rows: dict[str, list[tuple[str, str]]] = {"add": [], "update": [], "rename": [], "retire": []}
    rows["add"] = [(c.id, c.note.question) for c in plan.added]
    for c in plan.updated:
        r = renamed.get(c.id)
        if r is None:
            rows["update"].append((c.id, c.note.question))
        else:
            rows["rename"].append((c.id, f"{_one_line(r.old_question, 42)} → {_one_line(r.new_question, 46)}"))
    rows["retire"] = [(i, result.existing[i].question) for i in plan.retired]
    return rows


def plan_line(result: NotesImport) -> Text:
    """'notes.md: 3 to add, 1 to update (1 renamed), 1 to retire, 10 unchanged'."""
    n = result.counts()
    out = Text()
    out.append(f"{result.source}: ", style="dim")
    if result.skipped is not None:
        out.append(f"unchanged since the last import ({n['unchanged']:,} cards)")
        return out
    renamed = f" ({n['renamed']:,} renamed)" if n["renamed"] else ""
    parts = [f"{n['added']:,} to add", f"{n['updated']:,} to update{renamed}", f"{n['retired']:,} to retire"]
    if n["refreshed"]:
        parts.append(f"{n['refreshed']:,} to get a new source or tag")
    parts.append(f"{n['unchanged']:,} unchanged")
    out.append(", ".join(parts))
    return out


def plan_preview(result: NotesImport, *, rows: int = PREVIEW_ROWS) -> RenderableType:
    """The counts, then a table of the cards each kind of change touches (``rows`` of each at most)."""
    line = plan_line(result)
    if result.skipped is not None or not (result.plan.added or result.plan.updated or result.plan.retired):
        return line
    table = Table(header_style="bold", box=None, pad_edge=False, expand=True)
    table.add_column("change", no_wrap=True)
    table.add_column("question", overflow="fold", ratio=1, min_width=20)
    table.add_column("id", no_wrap=True, overflow="fold")
    for kind, found in _rows(result).items():
        for card_id, question in found[:rows]:
            table.add_row(Text(kind, style=_STYLES[kind]), Text(_one_line(question)), Text(card_id, style="dim"))
        if len(found) > rows:
            table.add_row(Text(""), Text(f"… and {len(found) - rows:,} more to {kind}", style="dim"), Text(""))
    return Group(line, Text(""), table, Text(""))


def done_line(result: NotesImport) -> Text:
    """The closing line of an import that was written: 'Imported notes.md: 3 added, …'."""
    out = Text()
    if result.skipped is not None:
        return plan_line(result)
    out.append("Imported ", style="bold")
    out.append(f"{result.source}: ")
    out.append(result.summary())
    if result.tags:
        out.append(f"; tagged {', '.join(result.tags)}", style="dim")
    return out


class CardChangeJson(TypedDict):
    id: str
    question: str
    source: str


class RenameJson(TypedDict):
    id: str
    old_question: str
    new_question: str
    similarity: float


class RetiredJson(TypedDict):
    id: str
    question: str


class NotesImportJson(TypedDict):
    """``llmcards import NOTES.md --json``."""

    source: str
    import_path: str
    files: list[str]
    written: bool
    skipped: bool
    tags: list[str]
    added: list[CardChangeJson]
    updated: list[CardChangeJson]
    renamed: list[RenameJson]
    retired: list[RetiredJson]
    refreshed: list[CardChangeJson]
    unchanged: int


def notes_import_json(result: NotesImport) -> NotesImportJson:
    plan = result.plan

    def change(cards: list[tuple[str, str, str]]) -> list[CardChangeJson]:
        return [{"id": i, "question": q, "source": s} for i, q, s in cards]

    return {
        "source": result.source,
        "import_path": result.notes.import_path,
        "files": [f.name for f in result.notes.files],
        "written": result.written,
        "skipped": result.skipped is not None,
        "tags": list(result.tags),
        "added": change([(c.id, c.note.question, c.note.locator) for c in plan.added]),
        "updated": change([(c.id, c.note.question, c.note.locator) for c in plan.updated]),
        "renamed": [{"id": r.id, "old_question": r.old_question, "new_question": r.new_question,
                     "similarity": r.similarity} for r in plan.renamed],
        "retired": [{"id": i, "question": result.existing[i].question} for i in plan.retired],
        "refreshed": change([(c.id, result.existing[c.id].question, c.note.locator) for c in result.refreshed]),
        "unchanged": result.unchanged,
    }
