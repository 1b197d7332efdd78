"""The unit tier touches no socket: every ``connect`` in a test of this folder is refused (moto
in-process and botocore's Stubber answer without one). A test that needs the emulator belongs in
tests/integration/ (docs/development/testing.md)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

from tests.unit.support import SocketInUnitTestError


def _refuse(_sock: socket.socket, address: Any, *_: Any) -> NoReturn:
    raise SocketInUnitTestError(
        f"a unit test connected to {address!r}: unit tests touch no socket; use the fakes, "
        "moto in-process (mock_aws) or botocore's Stubber, or move the test to tests/integration/"
    )


@pytest.fixture(autouse=True)
def _no_socket(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # botocore looks for credentials in EC2's instance metadata service (169.254.169.254) when
    # none are configured: a unit test that builds a client never asks it.
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(socket.socket, "connect", _refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", _refuse)
    yield
