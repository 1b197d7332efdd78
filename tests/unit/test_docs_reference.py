"""The documentation stays true to the code: the reference pages generated from it are current
(``make docs-gen`` regenerates them), the code cites nothing outside the repository, and the
README's and CONTRIBUTING's links lead to pages that exist."""

from __future__ import annotations

import argparse
import importlib
import re
from pathlib import Path

import pytest

from tools import gen_docs

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
# (``lifeboat.cli.main`` the attribute is the ``main`` function: the package re-exports it)
cli_main = importlib.import_module("lifeboat.cli.main")
# Spelled in two parts so that this file does not cite them either: the seed design document
# and the notes beside the repository, neither of which ships with it.
EXTERNAL_CITATION = re.compile("DESIGN" + r"\s*§|\.\./" + r"shared/")
SEARCHED = ["layers", "functions", "tests", "tools", "docs", "statemachines", "events"]
SEARCHED_FILES = ["README.md", "CONTRIBUTING.md", "template.yaml", "Makefile", "mkdocs.yml"]
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".json", ".toml", ".txt", ""}


def _project_files() -> list[Path]:
    files = [ROOT / name for name in SEARCHED_FILES if (ROOT / name).exists()]
    for folder in SEARCHED:
        files += [
            path
            for path in (ROOT / folder).rglob("*")
            if path.is_file()
            and path.suffix in TEXT_SUFFIXES
            and "egg-info" not in path.as_posix()
            and "__pycache__" not in path.parts
        ]
    return files


def test_the_generated_reference_pages_are_current() -> None:
    stale = gen_docs.stale()
    assert not stale, (
        f"stale generated docs pages: {', '.join(stale)}: run `{gen_docs.COMMAND}` "
        "(the code changed: a command, option, plans field, parameter, error, tag, catalog "
        "item, IAM action or state machine) and commit the result"
    )


def test_a_new_cli_option_makes_the_cli_reference_stale(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the parser grows an option the committed page does not know
    build = cli_main.build_parser

    def grown() -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = build()
        parser.add_argument("--brand-new-option", help="an option no page lists yet")
        return parser

    monkeypatch.setattr(cli_main, "build_parser", grown)
    # Then the staleness check names the CLI page, and only it
    assert gen_docs.stale() == ["docs/reference/cli.md"]
    assert "--brand-new-option" in gen_docs.cli_page()


def test_the_cli_reference_lists_every_command_and_option() -> None:
    page = (ROOT / "docs/reference/cli.md").read_text(encoding="utf-8")
    parser = cli_main.build_parser()
    for path, sub in _leaf_commands("lifeboat", parser):
        assert f"### `{path}`" in page, path
        for action in sub._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert f"`{option}`" in page, f"{path} {option}"


def _leaf_commands(
    path: str, parser: argparse.ArgumentParser
) -> list[tuple[str, argparse.ArgumentParser]]:
    subs = list(gen_docs._subcommands(parser))
    if not subs:
        return [(path, parser)]
    return [leaf for name, _, sub in subs for leaf in _leaf_commands(f"{path} {name}", sub)]


def test_nothing_cites_a_design_document_outside_the_repository() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in _project_files()
        for number, line in enumerate(
            path.read_text(encoding="utf-8", errors="replace").splitlines(), 1
        )
        if EXTERNAL_CITATION.search(line)
    ]
    assert not found, (
        "cites a document that does not ship with the code; cite the docs page "
        f"instead (e.g. docs/design/contracts.md#tags): {found}"
    )
    help_text = cli_main.build_parser().format_help()
    assert not EXTERNAL_CITATION.search(help_text)


@pytest.mark.parametrize("document", ["README.md", "CONTRIBUTING.md"])
def test_the_links_of_the_readme_and_contributing_lead_to_files_that_exist(document: str) -> None:
    text = (ROOT / document).read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)\s]+)\)", text) + re.findall(r'src="([^"]+)"', text)
    local = [t.split("#", 1)[0] for t in targets if not re.match(r"^[a-z]+:", t)]
    assert local, f"{document} links into the docs"
    missing = [t for t in local if t and not (ROOT / t).exists()]
    assert not missing, f"{document} links to missing files: {missing}"


def test_the_readme_stays_short() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines: move the detail into docs/"


def test_every_state_and_transition_is_drawn() -> None:
    definition = {
        "StartAt": "Fan",
        "States": {
            "Fan": {
                "Type": "Parallel",
                "Next": "Done",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
                    {"StartAt": "B", "States": {"B": {"Type": "Wait", "Seconds": 1, "End": True}}},
                ],
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
            },
            "Done": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.x", "BooleanEquals": True, "Next": "Failed"}],
                "Default": "Ok",
            },
            "Ok": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "Error": "Boom"},
        },
    }
    diagram = "\n".join(gen_docs._diagram(definition))
    ids = {name: f"s{i}" for i, name in enumerate(["Fan", "A", "B", "Done", "Ok", "Failed"])}
    for name, node in ids.items():
        assert f"{node}" in diagram and f'"{name}' in diagram, name
    for edge in [
        "start((start)) --> s0",
        "s0 -->|branch 1| s1",
        "s0 -->|branch 2| s2",
        "s0 --> s3",
        "s0 -.->|ALL| s5",
        "s3 --> s5",
        "s3 -->|otherwise| s4",
    ]:
        assert edge in diagram, edge
