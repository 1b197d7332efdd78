"""The test layout tells where a test goes: the folder sets the tier (tests/conftest.py), and
nothing in tests/unit/ touches a socket (tests/unit/conftest.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import TESTS, TIERS
from tests.unit.conftest import SocketInUnitTestError

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
