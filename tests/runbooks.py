"""The ``lifeboat …`` commands written in the runbooks (``docs/runbooks/*.md``), as argv lists.

Read from every fenced code block of every runbook page, so a page merged later is covered
without a change here. A logical line joins its ``\\`` continuations; it is split like a shell
would (quotes, comments), and each ``lifeboat`` that starts a command (at the line's start, after
``|``, ``;``, ``&&`` or inside ``$(…)``) gives one command up to the next of those.
Placeholders such as ``i-0abc…`` or ``<ARN>`` stay as written: argparse accepts them, and
:func:`resolve` replaces those a seeded world can stand for.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNBOOKS = ROOT / "docs" / "runbooks"
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_SEPARATORS = {"|", "||", ";", "&&", "&", "(", ")", "$("}
_PLACEHOLDER = re.compile(r"…|\.\.\.|<[^>]*>")
_ANGLED = re.compile(r"<[A-Za-z][^<>|;&()]*>")
_REDIRECT = re.compile(r"^(\d?>|<$)")  # > file, 2>&1, < file (but not a <PLACEHOLDER>)


@dataclass(frozen=True)
class RunbookCommand:
    page: str  # docs/runbooks/<page>.md
    line: int  # where its logical line starts (1-based)
    argv: tuple[str, ...]  # after "lifeboat"

    def __str__(self) -> str:
        return f"{self.page}:{self.line}: lifeboat {shlex.join(self.argv)}"


def _code_lines(text: str) -> list[tuple[int, str]]:
    """(line number, logical line) of every fenced block, continuations joined."""
    found: list[tuple[int, str]] = []
    fence: str | None = None
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        opening = _FENCE.match(raw)
        if opening and (fence is None or opening.group(1)[0] == fence[0]):
            fence = opening.group(1) if fence is None else None
            continue
        if fence is None:
            continue
        line = raw.strip()
        if line.startswith("$ "):  # a prompt
            line = line[2:]
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        found.append((start, pending + line))
        pending = ""
    return found


def _tokens(line: str) -> list[str]:
    # A placeholder in angle brackets is one word, spaces and all (<execution ARN>)
    line = _ANGLED.sub(lambda m: m.group(0).replace(" ", "_"), line)
    lexer = shlex.shlex(line.replace("$(", " $( "), posix=True, punctuation_chars="|;&()")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote: not a shell line
        return []


def commands_in(page: Path) -> list[RunbookCommand]:
    text = page.read_text(encoding="utf-8")
    name = page.relative_to(ROOT).as_posix() if page.is_relative_to(ROOT) else page.name
    found = []
    for number, line in _code_lines(text):
        tokens = _tokens(line)
        for index, token in enumerate(tokens):
            starts = index == 0 or tokens[index - 1] in _SEPARATORS
            if token != "lifeboat" or not starts:
                continue
            argv: list[str] = []
            for word in tokens[index + 1 :]:
                if word in _SEPARATORS or _REDIRECT.match(word):
                    break
                argv.append(word)
            found.append(RunbookCommand(name, number, tuple(argv)))
    return found


def runbook_commands() -> list[RunbookCommand]:
    """Every ``lifeboat`` command of every runbook page (the index included)."""
    return [c for page in sorted(RUNBOOKS.glob("*.md")) for c in commands_in(page)]


def has_placeholder(word: str) -> bool:
    return bool(_PLACEHOLDER.search(word))


def resolve(command: RunbookCommand, values: dict[str, str]) -> list[str] | None:
    """The command with its placeholders replaced from ``values`` (keyed by the option before
    them: ``--instance``, ``--db``, …), or None when one has no value here."""
    argv: list[str] = []
    for index, word in enumerate(command.argv):
        option = command.argv[index - 1] if index else ""
        if not has_placeholder(word):
            argv.append(word)
        elif option in values:
            argv.append(values[option])
        else:
            return None
    return argv
