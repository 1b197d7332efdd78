"""The repository's root and its sample events: the same ``events/<name>.json`` files serve
``sam local invoke -e`` and pytest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


def load_event(name: str) -> dict[str, Any]:
    """Read ``events/<name>.json``: the same files serve ``sam local invoke -e`` and pytest."""
    data: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))
    return data
