"""The test layout tells where a test goes: the folder sets the tier (tests/conftest.py),
nothing in tests/unit/ touches a socket (tests/unit/conftest.py), and no test module imports
from another test module or a conftest (shared code lives in tests/fakes/, tests/worlds/ and
helper modules)."""

from __future__ import annotations

import ast
import socket
from pathlib import Path

import pytest

from tests.tiers import TESTS, TIERS
from tests.unit.support import SocketInUnitTestError

pytestmark = pytest.mark.unit


def test_a_unit_test_cannot_connect_anywhere() -> None:
    with pytest.raises(SocketInUnitTestError, match="touch no socket"):
        socket.create_connection(("127.0.0.1", 4566), timeout=1)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        with pytest.raises(SocketInUnitTestError):
            unix.connect("/tmp/nothing-here.sock")


def test_every_collected_test_carries_the_tier_of_its_folder(
    request: pytest.FixtureRequest,
) -> None:
    for item in request.session.items:
        folder = Path(item.path).resolve().relative_to(TESTS).parts[0]
        tiers = {m.name for m in item.iter_markers() if m.name in TIERS}
        callspec = getattr(item, "callspec", None)
        by_parameter = {m.name for m in callspec.marks if m.name in TIERS} if callspec else set()
        assert tiers == (by_parameter or {TIERS[folder]}), f"{item.nodeid}: {sorted(tiers)}"


def test_every_tier_folder_holds_tests() -> None:
    for folder in TIERS:
        assert list((TESTS / folder).glob("test_*.py")), f"tests/{folder}/ advertises no test"


def _imported_modules(path: Path) -> list[str]:
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append("." * node.level + (node.module or ""))
            if not node.module:  # from . import test_x
                found += [alias.name for alias in node.names]
    return found


def test_no_test_module_imports_from_another_test_module_or_a_conftest() -> None:
    # A helper module (a fake, a world, a conftest) imports no test module either.
    offending = [
        f"{path.relative_to(TESTS)} imports {module}"
        for path in sorted(TESTS.rglob("*.py"))
        for module in _imported_modules(path)
        if module.rpartition(".")[2].startswith("test_")
        or (path.name.startswith("test_") and module.rpartition(".")[2] == "conftest")
    ]
    assert offending == [], "move what is shared to tests/fakes/, tests/worlds/ or a helper module"


def test_the_import_rule_sees_a_test_module_imported_anywhere(tmp_path: Path) -> None:
    module = tmp_path / "test_sample.py"
    module.write_text(
        "from tests.unit.test_copies import point\n"
        "def f() -> None:\n"
        "    from tests.conftest import load_event\n"
        "    import tests.unit.test_backup\n"
        "from . import test_other\n"
        "from tests.worlds.copies import world\n",
        encoding="utf-8",
    )
    assert sorted(_imported_modules(module)) == sorted(
        [
            "tests.unit.test_copies",
            ".",
            "test_other",
            "tests.worlds.copies",
            "tests.conftest",
            "tests.unit.test_backup",
        ]
    )
