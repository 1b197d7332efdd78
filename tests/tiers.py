"""The tiers, set by the folder a test lives in (docs/development/testing.md); the conftest hook
marks each collected test with its folder's tier."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent


# The folder sets the tier: tests/<folder>/** are marked <tier>.
TIERS = {
    "unit": "unit",
    "gates": "gates",
    "integration": "integration",
    "browser": "browser",
    "e2e": "e2e",
}
