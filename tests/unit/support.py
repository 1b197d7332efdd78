"""What the unit tier's guard raises: a unit test touched a socket (tests/unit/conftest.py)."""

from __future__ import annotations


class SocketInUnitTestError(AssertionError):
    """A unit test tried to open a connection."""
