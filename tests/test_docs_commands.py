"""Every command line the README and the docs show names flags its command has: a renamed or
removed flag fails here, not in a reader's terminal."""

import re
import shlex
from importlib.metadata import entry_points
from pathlib import Path

import click
import pytest

pytestmark = pytest.mark.fast  # the tier `make check` runs
ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
COMMAND_LINE = re.compile(r"^\s*(?:\$ )?(repvsr-[a-z]+(?:\s.*)?)$")  # not its output (`repvsr-x: error: ...`)


def command_lines(page: Path) -> list[tuple[int, str]]:
    """(line number, command line) of each repvsr-* line in the page's fenced code blocks,
    continuation lines joined, comments dropped."""
    found, fenced, pending = [], False, None
    for number, line in enumerate(page.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            continue
        if pending is not None:
            pending = (pending[0], pending[1] + " " + line.strip())
        else:
            match = COMMAND_LINE.match(line)
            if not match:
                continue
            pending = (number, match[1])
        if pending[1].endswith("\\"):
            pending = (pending[0], pending[1][:-1])
            continue
        found.append(pending)
        pending = None
    return found


def flags_of(words: list[str]) -> tuple[str, set[str]] | None:
    """(the command as named, the flags it takes): a group's subcommand taken from the words; None
    for no command of ours."""
    entries = entry_points(group="console_scripts", name=words[0])
    if not entries:
        return None
    (entry,) = entries
    command, name = entry.load().__globals__[_command_name(entry)], words[0]
    while isinstance(command, click.Group):
        sub = next((w for w in words[1:] if w in command.commands), None)
        if sub is None:
            break
        command, name = command.commands[sub], f"{name} {sub}"
    flags = {opt for p in command.params for opt in (*p.opts, *p.secondary_opts)} | {"--help"}
    return name, flags


def _command_name(entry) -> str:
    """The click command a console script's `main` runs (`run_command(upscale_command)`)."""
    module = entry.load().__module__
    source = Path(__import__(module, fromlist=["x"]).__file__).read_text()
    return re.search(r"run_command\((\w+)\)", source)[1]


def test_every_flag_the_docs_show_is_one_its_command_has():
    wrong = []
    for page in PAGES:
        for number, line in command_lines(page):
            words = shlex.split(line.split(" # ")[0].split("  #")[0])
            words = words[: next((k for k, w in enumerate(words) if w in ("|", "&&", ">", "2>")), len(words))]
            command = flags_of(words)
            if command is None:
                wrong.append(f"{page.relative_to(ROOT)}:{number}: no command {words[0]}")
                continue
            name, flags = command
            for word in words[1:]:
                flag = word.split("=")[0]
                if flag.startswith("--") and flag not in flags:
                    wrong.append(f"{page.relative_to(ROOT)}:{number}: {name} has no {flag}")
    assert wrong == []


def test_the_pages_show_command_lines():
    assert sum(len(command_lines(page)) for page in PAGES) > 50
