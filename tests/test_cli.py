"""The non-interactive commands, through the real Typer app (CliRunner) on a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.core import TyperCommand, TyperGroup

from tests.helpers import Cli, ok, run, write


def test_first_command_imports_the_bundled_bank_and_says_so(cli: Cli) -> None:
    result = ok(cli("list"))
    assert "First run: imported the bundled question bank" in result.output
    assert "5 added" in result.output
    assert "lora-principle" in result.output
    again = ok(cli("list"))
    assert "First run" not in again.output


def test_list_filters(cli: Cli) -> None:
    ok(cli("list"))

    def ids(*args: str) -> list[str]:
        return [c["id"] for c in json.loads(ok(cli("list", "--json", *args)).stdout)]

    assert ids("--tag", "attention") == ["attention-complexity"]
    assert ids("--search", "LoRA") == ["lora-principle"]
    assert ids("--search", "lora") == ["lora-principle"]  # case-insensitive for ASCII
    assert ids("--search", "归一化") == ["bn-vs-ln"]  # Chinese substring in the answer
    assert ids("--search", "15%") == ["mask-literal"]  # % is literal, not a wildcard
    assert ids("--unanswered") == ["kv-cache"]
    assert ids("--new", "--limit", "2") == ["lora-principle", "bn-vs-ln"]
    assert ids("--due") == []
    assert ids("--suspended") == []
    assert ids("--retired") == []


def test_list_table_shows_text_literally(cli: Cli) -> None:
    out = ok(cli("list", "--search", "mask")).stdout
    assert "[mask]" in out
    assert "mask-literal" in out


def test_add_list_show_edit_suspend_delete(cli: Cli, tmp_path: Path) -> None:
    added = ok(cli("add", "-q", "什么是 RoPE?", "-a", "旋转位置编码 $\\theta_i = 10000^{-2i/d}$",
                   "-t", "positional-encoding"))
    card_id = added.stdout.strip().removeprefix("Added ")
    assert card_id.startswith("rope-")
    dup = cli("add", "-q", "什么是 RoPE?", "-a", "x")
    assert dup.exit_code == 1 and f"already card '{card_id}'" in dup.output

    shown = ok(cli("show", card_id)).stdout
    assert "什么是 RoPE?" in shown and "θ_i" in shown and "positional-encoding" in shown and "not reviewed yet" in shown
    data = json.loads(ok(cli("show", card_id, "--json")).stdout)
    assert data["origin"] == "user" and data["state"] == "new" and data["history"] == []

    ok(cli("edit", card_id, "-a", "新的答案", "-t", "attention"))
    data = json.loads(ok(cli("show", card_id, "--json")).stdout)
    assert data["answer"] == "新的答案" and data["tags"] == ["attention"] and data["question"] == "什么是 RoPE?"

    ok(cli("suspend", card_id))
    assert [c["id"] for c in json.loads(ok(cli("list", "--suspended", "--json")).stdout)] == [card_id]
    ok(cli("unsuspend", card_id))
    assert json.loads(ok(cli("list", "--suspended", "--json")).stdout) == []

    refused = cli("delete", card_id)  # no terminal, no --yes
    assert refused.exit_code == 1 and "--yes" in refused.output
    ok(cli("delete", card_id, "--yes"))
    gone = cli("show", card_id)
    assert gone.exit_code == 1 and "no card with id" in gone.output


def test_add_answer_from_stdin_and_file(cli: Cli, tmp_path: Path) -> None:
    first = ok(cli("add", "-q", "Q from stdin", "--answer-file", "-", input="line 1\nline 2\n"))
    card_id = first.stdout.split()[-1]
    assert json.loads(ok(cli("show", card_id, "--json")).stdout)["answer"] == "line 1\nline 2"
    answer = write(tmp_path / "a.md", "# heading\n\n- point\n")
    second = ok(cli("add", "-q", "Q from file", "--answer-file", str(answer)))
    assert json.loads(ok(cli("show", second.stdout.split()[-1], "--json")).stdout)["answer"] == "# heading\n\n- point"
    missing = cli("add", "-q", "Q3", "--answer-file", str(tmp_path / "none.md"))
    assert missing.exit_code == 1 and "no such file" in missing.output


def test_add_without_arguments_and_without_terminal_is_a_clear_error(cli: Cli) -> None:
    result = cli("add")
    assert result.exit_code == 1
    assert "no terminal" in result.output


def test_edit_in_editor_keeps_schedule(cli: Cli, tmp_path: Path) -> None:
    ok(cli("list"))
    script = write(tmp_path / "ed.py", "import sys,re\np=sys.argv[1]\ns=open(p,encoding='utf-8').read()\n"
                   "s=s.replace('BN和LN的区别','BN 和 LN 的区别（改）')\nopen(p,'w',encoding='utf-8').write(s)\n")
    env = {"EDITOR": f"{sys.executable} {script}"}
    ok(cli("edit", "bn-vs-ln", env=env))
    data = json.loads(ok(cli("show", "bn-vs-ln", "--json")).stdout)
    assert data["question"] == "BN 和 LN 的区别（改）"
    unchanged = ok(cli("edit", "bn-vs-ln", env={"EDITOR": "true"}))
    assert "No changes" in unchanged.stdout


def test_edit_with_broken_yaml_keeps_the_text_and_the_card(cli: Cli, tmp_path: Path) -> None:
    ok(cli("list"))
    script = write(tmp_path / "ed.py", "import sys\nopen(sys.argv[1],'w').write('question: [unclosed\\n')\n")
    result = cli("edit", "bn-vs-ln", env={"EDITOR": f"{sys.executable} {script}"})
    assert result.exit_code == 1 and "your text is saved in" in result.output
    assert json.loads(ok(cli("show", "bn-vs-ln", "--json")).stdout)["question"] == "BN和LN的区别"


def test_unknown_id_suggests_close_matches(cli: Cli) -> None:
    ok(cli("list"))
    result = cli("show", "lora-principal")
    assert result.exit_code == 1
    assert "no card with id 'lora-principal'; did you mean lora-principle?" in result.output
    assert cli("suspend", "bn-vs-ln", "nope").exit_code == 1
    assert json.loads(ok(cli("list", "--suspended", "--json")).stdout) == []  # all or nothing


def test_config_show_and_set_validates(cli: Cli) -> None:
    values = json.loads(ok(cli("config", "--json")).stdout)
    assert values == {"desired_retention": "0.9", "new_per_day": "20", "reviews_per_day": "200",
                      "day_starts_at": "4", "learning_steps": "1m 10m", "relearning_steps": "10m",
                      "maximum_interval": "36500", "fsrs_parameters": FSRS_DEFAULTS,
                      "backup_daily": "7", "backup_weekly": "4", "backup_keep_days": "30", "sync_url": ""}
    ok(cli("config", "set", "desired_retention", "0.85"))
    ok(cli("config", "set", "learning_steps", "1m 10m 1h"))
    for key, value, message in [
        ("desired_retention", "0.5", "between 0.70 and 0.99"),
        ("day_starts_at", "24", "between 0 and 23"),
        ("new_per_day", "many", "not a whole number"),
        ("learning_steps", "1x", "not a step"),
        ("colour", "red", "unknown setting"),
        ("fsrs_parameters", "0.2 1.3", "Expected 21 parameters, got 2"),
        ("fsrs_parameters", FSRS_DEFAULTS.replace("0.212", "1000", 1), "parameters[0] = 1000.0 is out of bounds"),
        ("fsrs_parameters", "a b c", "numbers separated by spaces or commas"),
    ]:
        bad = cli("config", "set", key, value)
        assert bad.exit_code == 1 and message in bad.output, bad.output
    values = json.loads(ok(cli("config", "--json")).stdout)
    assert values["desired_retention"] == "0.85" and values["learning_steps"] == "1m 10m 1h"
    assert values["fsrs_parameters"] == FSRS_DEFAULTS  # refused values changed nothing

    fitted = FSRS_DEFAULTS.replace("0.212", "0.3", 1).replace(" ", ", ")
    shown = ok(cli("config", "set", "fsrs_parameters", fitted)).stdout
    assert shown.startswith("fsrs_parameters = 0.3 1.2931 ")
    assert json.loads(ok(cli("config", "--json")).stdout)["fsrs_parameters"].startswith("0.3 1.2931 ")
    reset = ok(cli("config", "reset", "fsrs_parameters", "desired_retention")).stdout
    assert "fsrs_parameters = 0.212 " in reset and "desired_retention = 0.9 (default)" in reset
    values = json.loads(ok(cli("config", "--json")).stdout)
    assert values["fsrs_parameters"] == FSRS_DEFAULTS and values["desired_retention"] == "0.9"
    assert values["learning_steps"] == "1m 10m 1h"  # only the named keys were reset
    unknown = cli("config", "reset", "colour")
    assert unknown.exit_code == 1 and "unknown setting 'colour'" in unknown.output


FSRS_DEFAULTS = ("0.212 1.2931 2.3065 8.2956 6.4133 0.8334 3.0194 0.001 1.8722 0.1666 0.796 1.4835 0.0614 "
                 "0.2629 1.6483 0.6014 1.8729 0.5425 0.0912 0.0658 0.1542")


def test_control_characters_never_reach_the_terminal(cli: Cli) -> None:
    added = ok(cli("add", "-q", "evil \x1b[2J question", "-a", "bell \x07 and [/] and [bold]x[/bold]"))
    card_id = added.stdout.split()[-1]
    out = ok(cli("show", card_id)).stdout
    assert "\x1b" not in out and "\x07" not in out
    assert "␛[2J" in out and "[/]" in out and "[bold]x[/bold]" in out


def _commands() -> dict[str, TyperCommand | TyperGroup]:
    """Every command and subcommand by its words, e.g. ``"config reset"``."""
    from typer.main import get_command

    from llmcards.cli import app

    found: dict[str, TyperCommand | TyperGroup] = {}

    def walk(prefix: str, command: object) -> None:
        assert isinstance(command, TyperCommand | TyperGroup), command
        if prefix:
            found[prefix] = command
        if isinstance(command, TyperGroup):
            for name, sub in command.commands.items():
                walk(f"{prefix} {name}".strip(), sub)

    walk("", get_command(app))
    return found


def _imported_modules(*args: str, env: dict[str, str]) -> set[str]:
    """Every module `python -X importtime -m llmcards ARGS` imports."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "llmcards", *args],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("args", [["--help"], ["--version"], *([*name.split(), "--help"] for name in _commands())],
                         ids=" ".join)
def test_help_does_not_import_heavy_libraries(args: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "LLMCARDS_DB": str(tmp_path / "x.db")}
    modules = _imported_modules(*args, env=env)
    assert "typer" in modules and "llmcards.cli" in modules
    for heavy in ("sqlalchemy", "psycopg", "fsrs", "rich.markdown", "pylatexenc", "sqlite3", "yaml", "numpy"):
        assert heavy not in modules, f"{heavy} imported by llmcards {' '.join(args)}"
    assert not (tmp_path / "x.db").exists()


def test_version_is_the_package_version() -> None:
    from importlib.metadata import version

    result = run("--version")
    assert result.returncode == 0 and result.stdout == f"llmcards {version('llmcards')}\n"


def test_every_command_has_help_with_an_example() -> None:
    commands = _commands()
    assert {"review", "add", "list", "show", "edit", "suspend", "unsuspend", "delete", "import", "config",
            "config set", "config reset", "stats", "sync"} <= set(commands)
    for name, command in commands.items():
        assert command.help and "Example: llmcards" in command.help, name


def test_readme_shows_every_command() -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    examples = [line.split("#")[0].split() for line in readme.splitlines() if line.startswith("llmcards ")]
    for name in ["--version", *_commands()]:
        words = ["llmcards", *name.split()]
        assert any(example[:len(words)] == words for example in examples), f"README.md has no example of {name}"
