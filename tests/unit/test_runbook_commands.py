"""Every ``lifeboat …`` command in the runbooks is one the CLI really has: it parses with the
real parser (its subcommands and options exist, its required options are there) and its
``--help`` works. The commands are read from every page in docs/runbooks/ (tests/runbooks.py),
so a page merged later is covered as it lands; their dry runs run against the emulator in
tests/integration/test_runbook_dry_runs.py. Every runbook has the runbook shape."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from lifeboat.cli import main
from lifeboat.cli.main import build_parser
from tests.runbooks import RUNBOOKS, RunbookCommand, commands_in, runbook_commands

pytestmark = pytest.mark.unit

COMMANDS = runbook_commands()
SHAPE = ["Symptom", "Decide", "Commands", "Verify", "Roll back", "What Lifeboat does not do"]


def _command(argv: tuple[str, ...]) -> tuple[list[str], argparse.ArgumentParser]:
    """The subcommand words of ``argv`` (``restore start``) and the parser they lead to."""
    parser: argparse.ArgumentParser = build_parser()
    path: list[str] = []
    for word in argv:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or word not in subs[0].choices:
            break
        path.append(word)
        parser = subs[0].choices[word]
    return path, parser


def test_the_runbooks_hold_commands_to_check() -> None:
    assert any(c.argv[:2] == ("restore", "start") for c in COMMANDS), COMMANDS
    assert any("--dry-run" in c.argv for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_a_runbook_command_parses_with_the_real_cli(command: RunbookCommand) -> None:
    try:
        build_parser().parse_args(list(command.argv))
    except SystemExit as exc:
        pytest.fail(f"{command}: the CLI refuses it (exit {exc.code}); see docs/reference/cli.md")


@pytest.mark.parametrize("command", COMMANDS, ids=str)
def test_a_runbook_command_has_help(
    command: RunbookCommand, capsys: pytest.CaptureFixture[str]
) -> None:
    path, parser = _command(command.argv)
    assert path, f"{command}: no such command"
    # spelled in full (argparse would also take an abbreviation, which a later option can break)
    options = {o for a in parser._actions for o in a.option_strings}
    written = {w.split("=", 1)[0] for w in command.argv if w.startswith("--")}
    assert written <= options, f"{command}: no option {sorted(written - options)}"
    with pytest.raises(SystemExit) as ended:
        main([*path, "--help"])
    assert ended.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: lifeboat {' '.join(path)}")


@pytest.mark.parametrize(
    "page", sorted(p.name for p in RUNBOOKS.glob("*.md") if p.name != "index.md")
)
def test_every_runbook_has_the_runbook_shape(page: str) -> None:
    text = (RUNBOOKS / page).read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    found = [next((h for h in headings if h.lower().startswith(s.lower())), None) for s in SHAPE]
    missing = [s for s, h in zip(SHAPE, found, strict=True) if h is None]
    assert not missing, f"{page}: no '## {missing[0]}' section (the shape: {' → '.join(SHAPE)})"
    positions = [headings.index(h) for h in found if h is not None]
    assert positions == sorted(positions), f"{page}: sections out of order ({' → '.join(SHAPE)})"


def test_every_runbook_is_listed_in_the_index() -> None:
    index = (RUNBOOKS / "index.md").read_text(encoding="utf-8")
    for page in RUNBOOKS.glob("*.md"):
        if page.name != "index.md":
            assert f"]({page.name})" in index, f"{page.name} is not in docs/runbooks/index.md"


def test_commands_are_read_across_continuations_pipes_and_substitutions(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text with `lifeboat not-in-a-block`.\n\n"
        "```bash\n"
        "lifeboat restore start --instance i-0abc… \\\n"
        '    --reason "AZ a # impaired" --wait   # a comment\n'
        "QUEUE=$(lifeboat stack outputs --json | jq -r .X)\n"
        "$ lifeboat executions show <execution ARN> --wait > out.json\n"
        "echo lifeboat is not a command here\n"
        "```\n",
        encoding="utf-8",
    )
    argvs = [c.argv for c in commands_in(page)]
    assert argvs == [
        ("restore", "start", "--instance", "i-0abc…", "--reason", "AZ a # impaired", "--wait"),
        ("stack", "outputs", "--json"),
        ("executions", "show", "<execution_ARN>", "--wait"),
    ]
